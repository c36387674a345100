import { describe, expect, it } from 'vitest';
import { CheckpointError } from './checkpoint-error.js';
import { tinyConfigJson } from './loader.test-helpers.js';
import { parseModelConfig } from './model-config.js';

describe('parseModelConfig', () => {
  it('normalises a Llama config', () => {
    const config = parseModelConfig(tinyConfigJson());
    expect(config).toEqual({
      architecture: 'LlamaForCausalLM',
      hiddenSize: 16,
      intermediateSize: 24,
      numLayers: 2,
      numHeads: 4,
      numKvHeads: 2,
      headDim: 4,
      vocabSize: 32,
      rmsNormEps: 1e-5,
      ropeTheta: 10000,
      ropeScaling: { type: 'none' },
      maxPositionEmbeddings: 64,
      tieWordEmbeddings: false,
      attentionBias: false,
      attentionOutputBias: false,
      qkNorm: false,
      rotaryLayout: 'half-split',
      slidingWindow: null,
      bosTokenId: 1,
      eosTokenIds: [2],
      torchDtype: 'bfloat16',
    });
  });

  it('fills defaults: kv heads, theta, tie, bias, dtype, token ids', () => {
    const json = tinyConfigJson();
    for (const key of [
      'num_key_value_heads',
      'rope_theta',
      'tie_word_embeddings',
      'torch_dtype',
      'bos_token_id',
      'eos_token_id',
    ]) {
      delete json[key];
    }
    const config = parseModelConfig({ ...json, dtype: 'float16' });
    expect(config.numKvHeads).toBe(4);
    expect(config.ropeTheta).toBe(10000);
    expect(config.tieWordEmbeddings).toBe(false);
    expect(config.torchDtype).toBe('float16');
    expect(config.bosTokenId).toBeNull();
    expect(config.eosTokenIds).toEqual([]);
  });

  it('reads Llama 3 token lists and attention_bias', () => {
    const config = parseModelConfig(
      tinyConfigJson({
        vocab_size: 128256,
        bos_token_id: 128000,
        eos_token_id: [128001, 128009],
        attention_bias: true,
      }),
    );
    expect(config.eosTokenIds).toEqual([128001, 128009]);
    expect(config.attentionBias).toBe(true);
    expect(config.attentionOutputBias).toBe(true);
  });

  it('Qwen2 has q/k/v bias and no o_proj bias', () => {
    const config = parseModelConfig(
      tinyConfigJson({ architectures: ['Qwen2ForCausalLM'], use_sliding_window: false }),
    );
    expect(config.attentionBias).toBe(true);
    expect(config.attentionOutputBias).toBe(false);
    expect(config.qkNorm).toBe(false);
  });

  it('Qwen3 has qk norm and an explicit head_dim', () => {
    const config = parseModelConfig(
      tinyConfigJson({ architectures: ['Qwen3ForCausalLM'], head_dim: 8, attention_bias: false }),
    );
    expect(config.qkNorm).toBe(true);
    expect(config.headDim).toBe(8);
    expect(config.attentionBias).toBe(false);
  });

  it('Mistral keeps its sliding window', () => {
    const mistral = tinyConfigJson({ architectures: ['MistralForCausalLM'] });
    expect(parseModelConfig({ ...mistral, sliding_window: 4096 }).slidingWindow).toBe(4096);
    expect(parseModelConfig({ ...mistral, sliding_window: null }).slidingWindow).toBeNull();
  });

  it('reads llama3 and linear rope scaling, and transformers 5 rope_parameters', () => {
    const llama3 = parseModelConfig(
      tinyConfigJson({
        rope_scaling: {
          rope_type: 'llama3',
          factor: 8,
          low_freq_factor: 1,
          high_freq_factor: 4,
          original_max_position_embeddings: 8192,
        },
      }),
    );
    expect(llama3.ropeScaling).toEqual({
      type: 'llama3',
      factor: 8,
      lowFreqFactor: 1,
      highFreqFactor: 4,
      originalMaxPositionEmbeddings: 8192,
    });
    const linear = parseModelConfig(
      tinyConfigJson({ rope_scaling: { type: 'linear', factor: 2 } }),
    );
    expect(linear.ropeScaling).toEqual({ type: 'linear', factor: 2 });
    const json = tinyConfigJson({ rope_parameters: { rope_type: 'default', rope_theta: 1e6 } });
    delete json.rope_theta;
    const v5 = parseModelConfig(json);
    expect(v5.ropeTheta).toBe(1e6);
    expect(v5.ropeScaling).toEqual({ type: 'none' });
  });
});

describe('parseModelConfig failures', () => {
  const fails = (json: unknown, message: string | RegExp) => {
    expect(() => parseModelConfig(json, 'm/config.json')).toThrow(CheckpointError);
    expect(() => parseModelConfig(json, 'm/config.json')).toThrow(message);
  };

  it('names an unknown architecture and lists the supported ones', () => {
    fails(
      tinyConfigJson({ architectures: ['GPT2LMHeadModel'] }),
      'm/config.json: unsupported architecture "GPT2LMHeadModel" (supported: LlamaForCausalLM, ' +
        'MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM)',
    );
    fails(tinyConfigJson({ architectures: [] }), 'missing required field "architectures"');
  });

  it('names a missing required field', () => {
    for (const key of [
      'hidden_size',
      'intermediate_size',
      'num_hidden_layers',
      'vocab_size',
      'rms_norm_eps',
      'max_position_embeddings',
    ]) {
      const json = tinyConfigJson();
      delete json[key];
      fails(json, `m/config.json: missing required field "${key}"`);
    }
  });

  it('names a field of the wrong type', () => {
    fails(
      tinyConfigJson({ hidden_size: '16' }),
      'field "hidden_size" must be a positive integer, got "16"',
    );
    fails(tinyConfigJson({ rms_norm_eps: -1 }), 'field "rms_norm_eps" must be a positive number');
    fails(
      tinyConfigJson({ tie_word_embeddings: 'yes' }),
      'field "tie_word_embeddings" must be true or false',
    );
    fails(tinyConfigJson({ eos_token_id: [2, 'x'] }), 'field "eos_token_id" must be a token id');
    fails(tinyConfigJson({ torch_dtype: 7 }), 'field "torch_dtype" must be a string');
    fails(tinyConfigJson({ rope_scaling: 'big' }), 'field "rope_scaling" must be an object');
  });

  it('rejects what the runtime cannot run', () => {
    fails([], 'm/config.json: is not a JSON object');
    fails(tinyConfigJson({ torch_dtype: 'float8_e4m3fn' }), 'field "torch_dtype" is float8_e4m3fn');
    fails(tinyConfigJson({ hidden_act: 'gelu' }), 'hidden_act "gelu" is not supported');
    fails(
      tinyConfigJson({ rope_scaling: { rope_type: 'yarn', factor: 4 } }),
      'unsupported rope type "yarn"',
    );
    fails(
      tinyConfigJson({
        rope_scaling: {
          rope_type: 'llama3',
          factor: 8,
          low_freq_factor: 4,
          high_freq_factor: 1,
          original_max_position_embeddings: 8,
        },
      }),
      'high_freq_factor must be greater than low_freq_factor',
    );
    fails(
      tinyConfigJson({ rope_scaling: { rope_type: 'llama3', factor: 8 } }),
      'missing required field "low_freq_factor"',
    );
    fails(
      tinyConfigJson({ architectures: ['Qwen2ForCausalLM'], use_sliding_window: true }),
      'use_sliding_window is true',
    );
    fails(
      tinyConfigJson({ num_attention_heads: 5 }),
      'hidden_size 16 is not a multiple of num_attention_heads 5',
    );
    fails(tinyConfigJson({ num_attention_heads: 16 }), 'head dimension 1 must be even');
    fails(tinyConfigJson({ num_key_value_heads: 3 }), 'not a multiple of num_key_value_heads 3');
    fails(
      tinyConfigJson({ eos_token_id: 40 }),
      'special token id 40 is outside the vocabulary (32)',
    );
  });
});
