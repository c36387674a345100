import type { MemorySaver } from '@ts/memory-saver-native';
import { checkTensors, expectedLlamaTensors } from '../model/loader/llama-weights.js';
import type { ModelConfig } from '../model/loader/model-config.js';
import { openCheckpoint } from '../model/loader/open-checkpoint.js';
import { overwriteWeights, writeWeightsInPlace } from '../model/weights/load-weights.js';
import { type NamedTensor, tensorSources } from '../model/weights/named-tensors.js';
import type { Rank } from '../rank/rank.js';
import type { ControlReplyData } from './worker-protocol.js';

const describe = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * The shared frame of a weight update (spec: weight updates between wake-ups): the weights
 * must be resumed (kv_cache need not be), `write` runs with no forward pass in flight, and the
 * prefix cache is reset after (KV from the old weights is never reused). A failure answers
 * `{ success: false }` with the old weights kept.
 */
async function update(
  saver: MemorySaver,
  what: string,
  rank: Rank,
  write: () => Promise<string>,
): Promise<ControlReplyData> {
  if (saver.isPaused('weights')) {
    return {
      success: false,
      message: 'weights are released: resume them (tags: ["weights"]) before updating them',
    };
  }
  try {
    const done = await write();
    const forgotten = rank.loop.forgetCachedKv();
    return { success: true, message: `${done}; ${forgotten.message}` };
  } catch (error) {
    return { success: false, message: `${what} failed, the old weights stay: ${describe(error)}` };
  }
}

/** Replaces every weight of a rank in place from a checkpoint on disk; names and shapes are checked first. */
export function updateWeightsFromDisk(
  saver: MemorySaver,
  rank: Rank,
  config: ModelConfig,
  path: string,
): Promise<ControlReplyData> {
  return update(saver, `update_weights_from_disk(${path})`, rank, async () => {
    const checkpoint = await openCheckpoint(path);
    try {
      checkTensors(expectedLlamaTensors(config), checkpoint.tensors, path);
      await rank.loop.exclusive(() => overwriteWeights(saver, rank.weights, checkpoint.tensors));
    } finally {
      await checkpoint.close();
    }
    return `weights updated from ${path}`;
  });
}

/**
 * Replaces the named weights (all or some) with tensors pushed from memory, checked by name,
 * shape and dtype before anything is written.
 */
export function updateWeightsFromTensors(
  saver: MemorySaver,
  rank: Rank,
  config: ModelConfig,
  tensors: readonly NamedTensor[],
): Promise<ControlReplyData> {
  return update(saver, 'update_weights_from_tensors', rank, async () => {
    const { sources, complete } = tensorSources(expectedLlamaTensors(config), tensors);
    const write = complete ? overwriteWeights : writeWeightsInPlace;
    await rank.loop.exclusive(() => write(saver, rank.weights, sources));
    return `${sources.length} tensors updated${complete ? ' (every weight)' : ''}`;
  });
}
