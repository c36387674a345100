import type { MemorySaver } from '@ts/memory-saver-native';
import type { ControlResult } from '@ts/pause';
import { checkTensors, expectedLlamaTensors } from '../model/loader/llama-weights.js';
import type { ModelConfig } from '../model/loader/model-config.js';
import { openCheckpoint } from '../model/loader/open-checkpoint.js';
import type { TensorSource } from '../model/loader/tensor-source.js';
import type { ShardPlan } from '../model/tensor-parallel/shard-plan.js';
import { shardSources } from '../model/tensor-parallel/shard-sources.js';
import { type LoadedWeights, replaceWeights } from '../model/weights/load-weights.js';
import { tensorSources } from '../model/weights/named-tensors.js';
import type { WeightChecks } from '../model/weights/non-finite-check.js';
import type { WeightUpdate } from './tp-protocol.js';

/**
 * A peer's share of a weight update (the leader does its own through `update-weights.ts`, and
 * resets the prefix cache): the same checks on the whole tensors, then this rank's shard of
 * each written wherever its weights live now (the host backup while released). The leader
 * calls it with no forward pass in flight and none starting.
 */
export async function updatePeerWeights(
  saver: MemorySaver,
  weights: LoadedWeights,
  config: ModelConfig,
  plan: ShardPlan,
  update: WeightUpdate,
  checks: WeightChecks,
): Promise<ControlResult> {
  const released = saver.isPaused(weights.allocation.tag ?? 'weights');
  const write = async (sources: readonly TensorSource[], complete: boolean) => {
    const shares = shardSources(plan, sources, checks);
    return replaceWeights(saver, weights, shares, { complete, released }, checks);
  };
  try {
    if (update.from === 'tensors') {
      const { sources, complete } = tensorSources(expectedLlamaTensors(config), update.tensors);
      await write(sources, complete);
      return { success: true, message: `${sources.length} tensors updated` };
    }
    const checkpoint = await openCheckpoint(update.path);
    try {
      checkTensors(expectedLlamaTensors(config), checkpoint.tensors, update.path);
      await write(checkpoint.tensors, true);
    } finally {
      await checkpoint.close();
    }
    return { success: true, message: `weights updated from ${update.path}` };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { success: false, message: `weight update failed, the old weights stay: ${message}` };
  }
}
