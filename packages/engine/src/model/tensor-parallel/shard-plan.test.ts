import { describe, expect, it } from 'vitest';
import { tinyConfigJson } from '../loader/loader.test-helpers.js';
import { parseModelConfig } from '../loader/model-config.js';
import { layOutWeights } from '../weights/weight-layout.js';
import {
  checkTensorParallel,
  planLlamaShards,
  rankTensors,
  type ShardPlan,
  TensorParallelError,
  type TensorShard,
} from './shard-plan.js';

// hidden 16, 4 heads of 4, 2 KV heads, intermediate 24, vocabulary 32.
const tiny = (overrides: Record<string, unknown> = {}) =>
  parseModelConfig(tinyConfigJson(overrides));

function shard(plan: ShardPlan, name: string): TensorShard {
  const found = plan.shards.find((s) => s.name === name);
  if (!found) throw new Error(`no shard ${name}`);
  return found;
}

const pick = ({ split, shape, start, length }: TensorShard) => ({ split, shape, start, length });

describe('planLlamaShards', () => {
  it('at TP 1 every rank holds every tensor whole', () => {
    const plan = planLlamaShards(tiny(), 1, 0);
    for (const s of plan.shards) expect(s.shape).toEqual(s.fullShape);
    expect(plan.dims).toEqual({
      numHeads: 4,
      numKvHeads: 2,
      intermediateSize: 24,
      vocabStart: 0,
      vocabSize: 32,
    });
  });

  it('at TP 2 splits q/k/v and gate/up by output rows, o and down by input columns', () => {
    const plan = planLlamaShards(tiny(), 2, 1);
    const p = 'model.layers.1.';
    expect(pick(shard(plan, `${p}self_attn.q_proj.weight`))).toEqual({
      split: 'rows',
      shape: [8, 16],
      start: 8,
      length: 8,
    });
    expect(pick(shard(plan, `${p}self_attn.k_proj.weight`))).toMatchObject({
      shape: [4, 16],
      start: 4,
    });
    expect(pick(shard(plan, `${p}self_attn.v_proj.weight`))).toMatchObject({
      shape: [4, 16],
      start: 4,
    });
    expect(pick(shard(plan, `${p}self_attn.o_proj.weight`))).toEqual({
      split: 'columns',
      shape: [16, 8],
      start: 8,
      length: 8,
    });
    expect(pick(shard(plan, `${p}mlp.gate_proj.weight`))).toMatchObject({
      shape: [12, 16],
      start: 12,
    });
    expect(pick(shard(plan, `${p}mlp.up_proj.weight`))).toMatchObject({
      shape: [12, 16],
      start: 12,
    });
    expect(pick(shard(plan, `${p}mlp.down_proj.weight`))).toMatchObject({
      split: 'columns',
      shape: [16, 12],
      start: 12,
    });
    expect(plan.dims).toEqual({
      numHeads: 2,
      numKvHeads: 1,
      intermediateSize: 12,
      vocabStart: 16,
      vocabSize: 16,
    });
  });

  it('splits the embedding and lm_head by vocabulary rows and replicates the norms', () => {
    const plan = planLlamaShards(tiny(), 2, 1);
    for (const name of ['model.embed_tokens.weight', 'lm_head.weight']) {
      expect(pick(shard(plan, name))).toEqual({
        split: 'rows',
        shape: [16, 16],
        start: 16,
        length: 16,
      });
    }
    for (const name of ['model.norm.weight', 'model.layers.0.input_layernorm.weight']) {
      expect(pick(shard(plan, name))).toMatchObject({ split: 'replicated', shape: [16] });
    }
    const tied = planLlamaShards(tiny({ tie_word_embeddings: true }), 2, 0);
    expect(tied.shards.some((s) => s.name === 'lm_head.weight')).toBe(false);
  });

  it('splits q/k/v biases with their weights; rank 0 alone adds the o_proj bias', () => {
    const [rank0, rank1] = [0, 1].map((rank) =>
      planLlamaShards(tiny({ attention_bias: true }), 2, rank),
    );
    const p = 'model.layers.0.self_attn.';
    expect(pick(shard(rank1 as ShardPlan, `${p}q_proj.bias`))).toEqual({
      split: 'rows',
      shape: [8],
      start: 8,
      length: 8,
    });
    expect(pick(shard(rank1 as ShardPlan, `${p}v_proj.bias`))).toMatchObject({
      shape: [4],
      start: 4,
    });
    expect(shard(rank0 as ShardPlan, `${p}o_proj.bias`).shape).toEqual([16]);
    expect(shard(rank1 as ShardPlan, `${p}o_proj.bias`).shape).toEqual([]);
    expect(rankTensors(rank1 as ShardPlan).some((t) => t.name === `${p}o_proj.bias`)).toBe(false);
    const qwen3 = planLlamaShards(tiny({ architectures: ['Qwen3ForCausalLM'], head_dim: 4 }), 2, 1);
    expect(shard(qwen3, `${p}q_norm.weight`)).toMatchObject({ split: 'replicated', shape: [4] });
  });

  it.each([1, 2])('the ranks of TP %i tile every split tensor exactly, in rank order', (tpSize) => {
    const config = tiny({ attention_bias: true });
    const plans = Array.from({ length: tpSize }, (_, rank) =>
      planLlamaShards(config, tpSize, rank),
    );
    for (const [i, first] of (plans[0] as ShardPlan).shards.entries()) {
      const parts = plans.map((plan) => plan.shards[i] as TensorShard);
      if (first.split !== 'rows' && first.split !== 'columns') continue;
      const dim = first.split === 'rows' ? 0 : 1;
      let next = 0;
      for (const part of parts) {
        expect(part.start).toBe(next);
        next += part.length;
      }
      expect(next).toBe(first.fullShape[dim]);
    }
  });

  it('keeps each rank’s q/k/v and gate/up packed back to back in its weight layout', () => {
    const layout = layOutWeights(rankTensors(planLlamaShards(tiny(), 2, 0)), 'float32');
    const slot = (name: string) => layout.slots.get(`model.layers.0.${name}`);
    const q = slot('self_attn.q_proj.weight');
    const k = slot('self_attn.k_proj.weight');
    const gate = slot('mlp.gate_proj.weight');
    expect(k?.offset).toBe((q?.offset ?? 0) + 8 * 16 * 4);
    expect(slot('mlp.up_proj.weight')?.offset).toBe((gate?.offset ?? 0) + 12 * 16 * 4);
  });
});

describe('checkTensorParallel', () => {
  it('names every count that does not divide', () => {
    expect(() => checkTensorParallel(tiny(), 4)).toThrow(
      /across 4 tensor-parallel ranks: key\/value heads 2 does not divide by 4/,
    );
    expect(() => checkTensorParallel(tiny({ vocab_size: 33, intermediate_size: 25 }), 2)).toThrow(
      /intermediate size 25, vocabulary size 33 do not divide by 2/,
    );
    expect(() => checkTensorParallel(tiny(), 0)).toThrow(TensorParallelError);
    expect(() => planLlamaShards(tiny(), 2, 2)).toThrow(/rank must be in \[0, 2\)/);
    expect(() => checkTensorParallel(tiny(), 2)).not.toThrow();
  });
});
