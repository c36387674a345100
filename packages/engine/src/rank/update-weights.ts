import type { MemorySaver } from '@ts/memory-saver-native';
import type { ControlResult } from '@ts/pause';
import { checkTensors, expectedLlamaTensors } from '../model/loader/llama-weights.js';
import type { ModelConfig } from '../model/loader/model-config.js';
import { openCheckpoint } from '../model/loader/open-checkpoint.js';
import { copyIpcWeights } from '../model/weights/ipc-weights.js';
import { type ReplaceTarget, replaceWeights } from '../model/weights/load-weights.js';
import {
  type IpcReader,
  type IpcTensor,
  type NamedTensor,
  tensorSources,
} from '../model/weights/named-tensors.js';
import type { WeightChecks } from '../model/weights/non-finite-check.js';
import type { Rank } from './rank.js';

const describe = (error: unknown) => (error instanceof Error ? error.message : String(error));

const RELEASED_NOTE = ' (into the host backup: weights are released, their resume restores them)';

/** Where an update goes: the rank's memory controller says whether its weights are released. */
function target(rank: Rank, complete: boolean): ReplaceTarget {
  const tag = rank.weights.allocation.tag ?? '';
  return { complete, released: rank.loop.memory.releasedTags.includes(tag) };
}

/**
 * The shared frame of a weight update (spec: weight updates between wake-ups): `write` runs
 * with no forward pass in flight and none starting, and the prefix cache is reset after (KV
 * from the old weights is never reused). Allowed while kv_cache is released, and while the
 * weights are: then the new values go into their host backup only and the GPU stays free. A
 * failure answers `{ success: false }` with the old weights kept, on the device or in the
 * backup; a tensor holding NaN/Inf is such a failure unless `checks.allowNonFinite`.
 */
async function update(
  what: string,
  rank: Rank,
  write: () => Promise<string>,
): Promise<ControlResult> {
  try {
    const done = await write();
    const forgotten = rank.loop.forgetCachedKv();
    return { success: true, message: `${done}; ${forgotten.message}` };
  } catch (error) {
    return { success: false, message: `${what} failed, the old weights stay: ${describe(error)}` };
  }
}

/**
 * Replaces every weight of a rank in place from a checkpoint on disk; names and shapes are
 * checked first, each tensor's values (NaN/Inf) as it is read, before the upload.
 */
export function updateWeightsFromDisk(
  saver: MemorySaver,
  rank: Rank,
  config: ModelConfig,
  path: string,
  checks: WeightChecks = {},
): Promise<ControlResult> {
  return update(`update_weights_from_disk(${path})`, rank, async () => {
    const checkpoint = await openCheckpoint(path);
    let where: string;
    try {
      checkTensors(expectedLlamaTensors(config), checkpoint.tensors, path);
      where = await rank.loop.exclusive(() =>
        replaceWeights(
          saver,
          rank.weights,
          rank.share(checkpoint.tensors, checks),
          target(rank, true),
          checks,
        ),
      );
    } finally {
      await checkpoint.close();
    }
    return `weights updated from ${path}${where === 'backup' ? RELEASED_NOTE : ''}`;
  });
}

/**
 * Replaces the named weights (all or some) with tensors pushed from memory, checked by name,
 * shape, dtype and values (NaN/Inf) before anything is committed. Tensors shared by CUDA IPC
 * are copied device to device while the weights are on the device, else read to the host.
 */
export function updateWeightsFromTensors(
  saver: MemorySaver,
  rank: Rank,
  config: ModelConfig,
  tensors: readonly NamedTensor[],
  checks: WeightChecks = {},
): Promise<ControlResult> {
  return update('update_weights_from_tensors', rank, async () => {
    const readIpc: IpcReader = (ipc, into) =>
      saver.readIpc(ipc, [{ offset: ipc.offset, bytes: into }]);
    const { sources, complete } = tensorSources(expectedLlamaTensors(config), tensors, readIpc);
    // Where the weights live is read with no forward pass in flight and no release between.
    const note = await rank.loop.exclusive(async () => {
      const into = target(rank, complete);
      if (!into.released && tensors.every((t) => t.ipc !== undefined))
        return ` (${await copyIpcWeights(saver, rank.weights, tensors as readonly IpcTensor[], checks)})`;
      const shared = rank.share(sources, checks);
      return (await replaceWeights(saver, rank.weights, shared, into, checks)) === 'backup'
        ? RELEASED_NOTE
        : '';
    });
    return `${sources.length} tensors updated${complete ? ' (every weight)' : ''}${note}`;
  });
}
