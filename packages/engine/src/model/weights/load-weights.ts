import type { Allocation, BackupPiece, MemorySaver } from '@ts/memory-saver-native';
import { convertInto } from '../loader/dtype-convert.js';
import type { TensorDtype, TensorSource } from '../loader/tensor-source.js';
import { layOutWeights, slotOf, type WeightLayout } from './weight-layout.js';

export interface LoadProgress {
  tensors: number;
  totalTensors: number;
  bytes: number;
  totalBytes: number;
}

/** A model's weights, all in one allocation of the `weights` tag. */
export class LoadedWeights {
  constructor(
    readonly allocation: Allocation,
    readonly layout: WeightLayout,
  ) {}

  /** Device address of the named tensor. */
  address(name: string): number {
    return Number(this.allocation.address) + slotOf(this.layout, name).offset;
  }

  has(name: string): boolean {
    return this.layout.slots.has(name);
  }
}

/**
 * Streams every tensor of the checkpoint (already checked against the model) into one
 * `weights` allocation through its host backup, so the first release needs no copy,
 * converting dtypes on the way. On any failure nothing stays allocated.
 */
export async function loadWeights(
  saver: MemorySaver,
  sources: readonly TensorSource[],
  dtype: TensorDtype,
  onProgress: (progress: LoadProgress) => void = () => {},
  tag = 'weights',
): Promise<LoadedWeights> {
  const layout = layOutWeights(sources, dtype);
  const allocation = await saver.allocate(layout.totalBytes, { tag, cpuBackup: 'tracked' });
  try {
    await saver.loadThroughBackup(allocation, (backup) =>
      fill(backup, layout, sources, onProgress),
    );
  } catch (error) {
    await saver.free(allocation);
    throw error;
  }
  return new LoadedWeights(allocation, layout);
}

/**
 * Replaces every weight (sources checked by the caller) through the pinned backup, so the next
 * release copies nothing. Opening the backup first finishes a restore still pending after a
 * resume, so a read that fails part-way leaves the old weights on the device (and the stale
 * backup is refreshed from them at the next release).
 */
export async function overwriteWeights(
  saver: MemorySaver,
  weights: LoadedWeights,
  sources: readonly TensorSource[],
  onProgress: (progress: LoadProgress) => void = () => {},
): Promise<void> {
  await saver.loadThroughBackup(weights.allocation, (backup) =>
    fill(backup, weights.layout, sources, onProgress),
  );
}

/**
 * Writes some of the weights in place, straight to the device (each tensor converted to the
 * weights' dtype); the saver finishes a pending restore before the first write, since the rest
 * must be the old weights.
 */
export async function writeWeightsInPlace(
  saver: MemorySaver,
  weights: LoadedWeights,
  sources: readonly TensorSource[],
): Promise<void> {
  const { layout } = weights;
  for (const source of sources) {
    const slot = slotOf(layout, source.name);
    const bytes = new Uint8Array(slot.byteLength);
    await readAs(source, bytes, layout.dtype);
    await saver.copyFromHost(weights.allocation, bytes, slot.offset);
  }
}

/**
 * Replaces weights (sources checked by the caller) while their tag is released, so the GPU
 * stays free: each tensor is read and converted into host staging of its own size, and only
 * when every read succeeded are they copied into the pinned backup, which the next resume
 * restores. A read that fails part-way leaves the old backup untouched; nothing on the device
 * is mapped or written. Host memory: the staged tensors' bytes, until the copy is done.
 */
export async function writeReleasedWeights(
  saver: MemorySaver,
  weights: LoadedWeights,
  sources: readonly TensorSource[],
): Promise<void> {
  const { layout } = weights;
  const pieces: BackupPiece[] = [];
  for (const source of sources) {
    const slot = slotOf(layout, source.name);
    const bytes = new Uint8Array(slot.byteLength);
    await readAs(source, bytes, layout.dtype);
    pieces.push({ offset: slot.offset, bytes });
  }
  await saver.writeBackup(weights.allocation, pieces);
}

/**
 * Writes `sources` (checked by the caller; `complete` when they are every weight) wherever the
 * weights live now: while their tag is released, into the host backup only
 * (`writeReleasedWeights`); otherwise through the backup to the device, or for some weights,
 * straight to the device. Returns where they went.
 */
export async function replaceWeights(
  saver: MemorySaver,
  weights: LoadedWeights,
  sources: readonly TensorSource[],
  complete: boolean,
): Promise<'backup' | 'device'> {
  if (saver.isPaused(weights.allocation.tag ?? '')) {
    await writeReleasedWeights(saver, weights, sources);
    return 'backup';
  }
  await (complete ? overwriteWeights : writeWeightsInPlace)(saver, weights, sources);
  return 'device';
}

async function fill(
  backup: Uint8Array,
  layout: WeightLayout,
  sources: readonly TensorSource[],
  onProgress: (progress: LoadProgress) => void,
): Promise<void> {
  const progress = {
    tensors: 0,
    totalTensors: sources.length,
    bytes: 0,
    totalBytes: layout.totalBytes,
  };
  for (const source of sources) {
    const slot = slotOf(layout, source.name);
    await readAs(source, backup.subarray(slot.offset, slot.offset + slot.byteLength), layout.dtype);
    progress.tensors += 1;
    progress.bytes += slot.byteLength;
    onProgress({ ...progress });
  }
}

/** Reads a tensor into `target` as `dtype`, converting on the way when the file holds another. */
async function readAs(source: TensorSource, target: Uint8Array, dtype: TensorDtype): Promise<void> {
  if (source.dtype === dtype) return source.read(target);
  const raw = new Uint8Array(source.byteLength);
  await source.read(raw);
  convertInto(target, dtype, raw, source.dtype);
}
