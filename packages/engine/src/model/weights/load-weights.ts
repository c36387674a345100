import type { Allocation, BackupPiece, MemorySaver } from '@ts/memory-saver-native';
import { convertInto } from '../loader/dtype-convert.js';
import type { TensorDtype, TensorSource } from '../loader/tensor-source.js';
import { refuseNonFinite, type WeightChecks } from './non-finite-check.js';
import { layOutWeights, slotOf, type WeightLayout } from './weight-layout.js';

export interface LoadProgress {
  tensors: number;
  totalTensors: number;
  bytes: number;
  totalBytes: number;
}

export interface LoadOptions extends WeightChecks {
  onProgress?(progress: LoadProgress): void;
  /** The allocation's tag (default `weights`). */
  tag?: string;
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
 * converting dtypes on the way. A tensor holding NaN/Inf fails the load unless
 * `allowNonFinite`. On any failure nothing stays allocated.
 */
export async function loadWeights(
  saver: MemorySaver,
  sources: readonly TensorSource[],
  dtype: TensorDtype,
  options: LoadOptions = {},
): Promise<LoadedWeights> {
  const layout = layOutWeights(sources, dtype);
  const tag = options.tag ?? 'weights';
  const allocation = await saver.allocate(layout.totalBytes, { tag, cpuBackup: 'tracked' });
  try {
    await saver.loadThroughBackup(allocation, (backup) =>
      fill(backup, layout, sources, options, (p) => options.onProgress?.(p)),
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
 * resume, so a read that fails part-way, or a tensor refused for NaN/Inf (each is checked
 * as it is read, before the upload), leaves the old weights on the device; the backup then
 * counts as stale, and the next release refreshes it from them.
 */
export async function overwriteWeights(
  saver: MemorySaver,
  weights: LoadedWeights,
  sources: readonly TensorSource[],
  checks: WeightChecks = {},
): Promise<void> {
  await saver.loadThroughBackup(weights.allocation, (backup) =>
    fill(backup, weights.layout, sources, checks),
  );
}

/**
 * Writes some of the weights in place, straight to the device: every tensor is read, checked
 * and converted into host staging first (as `writeReleasedWeights` does), so a failed read or
 * a refused tensor writes nothing; the saver finishes a pending restore before the first
 * write, since the rest must be the old weights. Host memory: the staged tensors' bytes.
 */
export async function writeWeightsInPlace(
  saver: MemorySaver,
  weights: LoadedWeights,
  sources: readonly TensorSource[],
  checks: WeightChecks = {},
): Promise<void> {
  for (const { offset, bytes } of await stage(weights.layout, sources, checks))
    await saver.copyFromHost(weights.allocation, bytes, offset);
}

/**
 * Replaces weights (sources checked by the caller) while their tag is released, so the GPU
 * stays free: each tensor is read, checked and converted into host staging of its own size,
 * and only when every one passed are they copied into the pinned backup, which the next
 * resume restores. A read that fails part-way, or a refused tensor, leaves the old backup
 * untouched; nothing on the device is mapped or written. Host memory: the staged tensors'
 * bytes, until the copy is done.
 */
export async function writeReleasedWeights(
  saver: MemorySaver,
  weights: LoadedWeights,
  sources: readonly TensorSource[],
  checks: WeightChecks = {},
): Promise<void> {
  await saver.writeBackup(weights.allocation, await stage(weights.layout, sources, checks));
}

/** What a weight update replaces, and where the weights live now. */
export interface ReplaceTarget {
  /** The sources are every weight. */
  complete: boolean;
  /** The weights' tag is released (the rank's memory controller says so). */
  released: boolean;
}

/**
 * Writes `sources` (checked by the caller) wherever the weights live now: while their tag is
 * released, into the host backup only (`writeReleasedWeights`); otherwise through the backup
 * to the device when they are every weight, or straight to the device for some. Every tensor
 * is checked for NaN/Inf (unless `allowNonFinite`) before anything is committed. Returns where
 * they went.
 */
export async function replaceWeights(
  saver: MemorySaver,
  weights: LoadedWeights,
  sources: readonly TensorSource[],
  { complete, released }: ReplaceTarget,
  checks: WeightChecks = {},
): Promise<'backup' | 'device'> {
  if (released) {
    await writeReleasedWeights(saver, weights, sources, checks);
    return 'backup';
  }
  await (complete ? overwriteWeights : writeWeightsInPlace)(saver, weights, sources, checks);
  return 'device';
}

/** Each source read, checked and converted into host memory of its slot's size. */
async function stage(
  layout: WeightLayout,
  sources: readonly TensorSource[],
  checks: WeightChecks,
): Promise<BackupPiece[]> {
  const pieces: BackupPiece[] = [];
  for (const source of sources) {
    const slot = slotOf(layout, source.name);
    const bytes = new Uint8Array(slot.byteLength);
    await readAs(source, bytes, layout.dtype, checks);
    pieces.push({ offset: slot.offset, bytes });
  }
  return pieces;
}

async function fill(
  backup: Uint8Array,
  layout: WeightLayout,
  sources: readonly TensorSource[],
  checks: WeightChecks,
  onProgress: (progress: LoadProgress) => void = () => {},
): Promise<void> {
  const progress = {
    tensors: 0,
    totalTensors: sources.length,
    bytes: 0,
    totalBytes: layout.totalBytes,
  };
  for (const source of sources) {
    const slot = slotOf(layout, source.name);
    const target = backup.subarray(slot.offset, slot.offset + slot.byteLength);
    await readAs(source, target, layout.dtype, checks);
    progress.tensors += 1;
    progress.bytes += slot.byteLength;
    onProgress({ ...progress });
  }
}

/**
 * Reads a tensor into `target` as `dtype`, converting on the way when the file holds another;
 * the bytes are checked for NaN/Inf as read, in the file's dtype, before any conversion.
 */
async function readAs(
  source: TensorSource,
  target: Uint8Array,
  dtype: TensorDtype,
  checks: WeightChecks,
): Promise<void> {
  const raw = source.dtype === dtype ? target : new Uint8Array(source.byteLength);
  await source.read(raw);
  await refuseNonFinite(source.name, raw, source.dtype, checks);
  if (raw !== target) convertInto(target, dtype, raw, source.dtype);
}
