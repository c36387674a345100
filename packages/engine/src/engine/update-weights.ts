import type { MemorySaver } from '@ts/memory-saver-native';
import { checkTensors, expectedLlamaTensors } from '../model/loader/llama-weights.js';
import type { ModelConfig } from '../model/loader/model-config.js';
import { openCheckpoint } from '../model/loader/open-checkpoint.js';
import { overwritePendingWeights, overwriteWeights } from '../model/weights/load-weights.js';
import type { Rank } from '../rank/rank.js';
import type { ControlReplyData } from './worker-protocol.js';

/**
 * Replaces the weights of a rank in place from a checkpoint on disk (spec: weight updates
 * between wake-ups). Allowed while kv_cache is released; the weights must be resumed. Names
 * and shapes are checked before anything is written, and no forward pass runs meanwhile.
 */
export async function updateWeightsFromDisk(
  saver: MemorySaver,
  rank: Rank,
  config: ModelConfig,
  path: string,
): Promise<ControlReplyData> {
  if (saver.isPaused('weights')) {
    return {
      success: false,
      message: 'weights are released: resume them (tags: ["weights"]) before updating them',
    };
  }
  const fail = (error: unknown): ControlReplyData => ({
    success: false,
    message: `update_weights_from_disk(${path}) failed, the old weights stay: ${error instanceof Error ? error.message : String(error)}`,
  });
  let checkpoint: Awaited<ReturnType<typeof openCheckpoint>>;
  try {
    checkpoint = await openCheckpoint(path);
  } catch (error) {
    return fail(error);
  }
  try {
    checkTensors(expectedLlamaTensors(config), checkpoint.tensors, path);
    await rank.loop.exclusive(() =>
      saver.restorePending(rank.weights.allocation)
        ? overwritePendingWeights(saver, rank.weights, checkpoint.tensors)
        : overwriteWeights(saver, rank.weights, checkpoint.tensors),
    );
    const flushed = rank.loop.flushCache();
    return { success: true, message: `weights updated from ${path}; ${flushed.message}` };
  } catch (error) {
    return fail(error);
  } finally {
    await checkpoint.close();
  }
}
