import { describe, expect, it } from 'vitest';
import { openBuiltinTiny } from '../builtin-tiny.js';
import type { TensorSource } from '../loader/tensor-source.js';
import { shardBytes } from './shard-bytes.js';
import { planLlamaShards } from './shard-plan.js';
import { shardSources } from './shard-sources.js';

async function bytesOf(source: TensorSource): Promise<Uint8Array> {
  const bytes = new Uint8Array(source.byteLength);
  await source.read(bytes);
  return bytes;
}

describe('shardSources', () => {
  const checkpoint = openBuiltinTiny();
  const config = checkpoint.config;

  it("gives each rank its shard's shape and bytes, cut from the whole tensor", async () => {
    const plan = planLlamaShards(config, 2, 1);
    const shares = shardSources(plan, checkpoint.tensors);
    expect(shares.map((s) => s.name)).toEqual(plan.shards.map((s) => s.name));
    for (const [i, share] of shares.entries()) {
      const shard = plan.shards[i];
      const whole = checkpoint.tensors.find((t) => t.name === share.name) as TensorSource;
      expect(share.shape).toEqual(shard?.shape);
      expect(share.byteLength).toBe((shard?.shape ?? []).reduce((a, b) => a * b, 4));
      const expected = shardBytes(await bytesOf(whole), shard as never, 4);
      expect(await bytesOf(share)).toEqual(expected);
    }
  });

  it('leaves out what the rank holds none of, and sources the plan does not name', () => {
    const plan = planLlamaShards(config, 2, 0);
    const some = checkpoint.tensors.filter((t) => t.name.startsWith('model.layers.0.mlp.'));
    expect(shardSources(plan, some).map((s) => [s.name, s.shape])).toEqual([
      ['model.layers.0.mlp.gate_proj.weight', [128, 128]],
      ['model.layers.0.mlp.up_proj.weight', [128, 128]],
      ['model.layers.0.mlp.down_proj.weight', [128, 128]],
    ]);
    const firstRank = { ...plan.shards[0], shape: [] } as never;
    expect(shardSources({ ...plan, shards: [firstRank] }, checkpoint.tensors)).toEqual([]);
  });

  it("refuses a NaN anywhere in the whole tensor, also outside this rank's shard", async () => {
    const plan = planLlamaShards(config, 2, 0);
    const embed = checkpoint.tensors[0] as TensorSource;
    const poisoned: TensorSource = {
      ...embed,
      read: async (into) => {
        await embed.read(into);
        new Float32Array(into.buffer, into.byteOffset, into.byteLength / 4).fill(Number.NaN, -1);
      },
    };
    const [share] = shardSources(plan, [poisoned]);
    await expect(bytesOf(share as TensorSource)).rejects.toThrow(/non-finite/);
    const [allowed] = shardSources(plan, [poisoned], { allowNonFinite: true });
    expect((await bytesOf(allowed as TensorSource)).byteLength).toBe(129 * 128 * 4);
  });
});
