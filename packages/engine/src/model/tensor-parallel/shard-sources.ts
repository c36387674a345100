import { DTYPE_BYTES, type TensorSource } from '../loader/tensor-source.js';
import { refuseNonFinite, type WeightChecks } from '../weights/non-finite-check.js';
import { shardBytes } from './shard-bytes.js';
import type { ShardPlan } from './shard-plan.js';

/**
 * This rank's share of `sources` (whole tensors, checked against the whole model), in the
 * plan's order, without the tensors it holds none of. Each share reads its whole tensor and
 * checks all of it for NaN/Inf (unless `allowNonFinite`) before cutting its part, so every rank
 * of a group refuses the same update: a NaN in another rank's part fails this one too.
 */
export function shardSources(
  plan: ShardPlan,
  sources: readonly TensorSource[],
  checks: WeightChecks = {},
): TensorSource[] {
  const byName = new Map(sources.map((source) => [source.name, source]));
  const shares: TensorSource[] = [];
  for (const shard of plan.shards) {
    const source = byName.get(shard.name);
    if (source === undefined || shard.shape.length === 0) continue;
    const elementBytes = DTYPE_BYTES[source.dtype];
    shares.push({
      name: source.name,
      shape: shard.shape,
      dtype: source.dtype,
      byteLength: shard.shape.reduce((a, b) => a * b, elementBytes),
      read: async (into) => {
        const whole = new Uint8Array(source.byteLength);
        await source.read(whole);
        await refuseNonFinite(source.name, whole, source.dtype, checks);
        into.set(shardBytes(whole, shard, elementBytes));
      },
    });
  }
  return shares;
}
