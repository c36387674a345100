import { describe, expect, it } from 'vitest';
import { CheckpointError } from './checkpoint-error.js';
import { checkTensors, expectedLlamaTensors } from './llama-weights.js';
import { tinyConfigJson } from './loader.test-helpers.js';
import { parseModelConfig } from './model-config.js';

const llama = parseModelConfig(tinyConfigJson());

describe('expectedLlamaTensors', () => {
  it('lists HF names and shapes for a Llama', () => {
    const { required, ignored } = expectedLlamaTensors(llama);
    expect(required).toHaveLength(1 + 2 * 9 + 2);
    expect(required.slice(0, 11)).toEqual([
      { name: 'model.embed_tokens.weight', shape: [32, 16] },
      { name: 'model.layers.0.input_layernorm.weight', shape: [16] },
      { name: 'model.layers.0.self_attn.q_proj.weight', shape: [16, 16] },
      { name: 'model.layers.0.self_attn.k_proj.weight', shape: [8, 16] },
      { name: 'model.layers.0.self_attn.v_proj.weight', shape: [8, 16] },
      { name: 'model.layers.0.self_attn.o_proj.weight', shape: [16, 16] },
      { name: 'model.layers.0.post_attention_layernorm.weight', shape: [16] },
      { name: 'model.layers.0.mlp.gate_proj.weight', shape: [24, 16] },
      { name: 'model.layers.0.mlp.up_proj.weight', shape: [24, 16] },
      { name: 'model.layers.0.mlp.down_proj.weight', shape: [16, 24] },
      { name: 'model.layers.1.input_layernorm.weight', shape: [16] },
    ]);
    expect(required.slice(-2)).toEqual([
      { name: 'model.norm.weight', shape: [16] },
      { name: 'lm_head.weight', shape: [32, 16] },
    ]);
    expect(ignored.has('lm_head.weight')).toBe(false);
    expect(ignored.has('model.layers.1.self_attn.rotary_emb.inv_freq')).toBe(true);
  });

  it('adds Qwen2 q/k/v biases, Qwen3 q/k norms, and drops lm_head when tied', () => {
    const qwen2 = expectedLlamaTensors(
      parseModelConfig(tinyConfigJson({ architectures: ['Qwen2ForCausalLM'] })),
    );
    const names2 = qwen2.required.map((t) => t.name);
    expect(names2).toContain('model.layers.0.self_attn.q_proj.bias');
    expect(qwen2.required).toContainEqual({
      name: 'model.layers.1.self_attn.k_proj.bias',
      shape: [8],
    });
    expect(names2).not.toContain('model.layers.0.self_attn.o_proj.bias');

    const qwen3 = parseModelConfig(
      tinyConfigJson({
        architectures: ['Qwen3ForCausalLM'],
        head_dim: 8,
        tie_word_embeddings: true,
      }),
    );
    const expected3 = expectedLlamaTensors(qwen3);
    expect(expected3.required).toContainEqual({
      name: 'model.layers.0.self_attn.q_norm.weight',
      shape: [8],
    });
    expect(expected3.required).toContainEqual({
      name: 'model.layers.0.self_attn.q_proj.weight',
      shape: [32, 16],
    });
    expect(expected3.required).toContainEqual({
      name: 'model.layers.0.self_attn.o_proj.weight',
      shape: [16, 32],
    });
    expect(expected3.required.map((t) => t.name)).not.toContain('lm_head.weight');
    expect(expected3.ignored.has('lm_head.weight')).toBe(true);

    const biased = expectedLlamaTensors(parseModelConfig(tinyConfigJson({ attention_bias: true })));
    expect(biased.required).toContainEqual({
      name: 'model.layers.0.self_attn.o_proj.bias',
      shape: [16],
    });
  });
});

describe('checkTensors', () => {
  const expected = expectedLlamaTensors(llama);
  const complete = expected.required.map((t) => ({ name: t.name, shape: [...t.shape] }));

  it('accepts a complete set and reports extras, not ignored names', () => {
    const available = [
      ...complete,
      { name: 'model.layers.0.self_attn.rotary_emb.inv_freq', shape: [2] },
      { name: 'vision_tower.weight', shape: [3] },
    ];
    expect(checkTensors(expected, available)).toEqual({ extra: ['vision_tower.weight'] });
  });

  it('accepts and ignores lm_head.weight when tied', () => {
    const tied = expectedLlamaTensors(
      parseModelConfig(tinyConfigJson({ tie_word_embeddings: true })),
    );
    const available = [...tied.required, { name: 'lm_head.weight', shape: [32, 16] }];
    expect(checkTensors(tied, available).extra).toEqual([]);
  });

  it('names a missing tensor', () => {
    const available = complete.filter((t) => t.name !== 'model.layers.1.mlp.up_proj.weight');
    expect(() => checkTensors(expected, available, 'ckpt')).toThrow(CheckpointError);
    expect(() => checkTensors(expected, available, 'ckpt')).toThrow(
      'ckpt: missing tensor model.layers.1.mlp.up_proj.weight',
    );
  });

  it('names a tensor of the wrong shape, expected vs found', () => {
    const available = complete.map((t) =>
      t.name === 'model.norm.weight' ? { name: t.name, shape: [15] } : t,
    );
    expect(() => checkTensors(expected, available)).toThrow(
      'checkpoint: tensor model.norm.weight has shape [15], expected [16]',
    );
  });

  it('lists the first five problems and counts the rest', () => {
    expect(() => checkTensors(expected, [])).toThrow(
      /missing tensor model\.embed_tokens\.weight; .*; and 16 more$/,
    );
  });
});
