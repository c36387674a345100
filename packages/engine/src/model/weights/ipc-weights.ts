import type { IpcAllocation, IpcPiece, MemorySaver, NonFiniteCount } from '@ts/memory-saver-native';
import { elementCount } from '../loader/tensor-source.js';
import type { LoadedWeights } from './load-weights.js';
import type { IpcTensor } from './named-tensors.js';
import { nonFiniteError, type WeightChecks } from './non-finite-check.js';
import { slotOf } from './weight-layout.js';

/**
 * Writes tensors a trainer shares by CUDA IPC (checked by the caller against the model)
 * straight into their slots, device to device, converting dtypes on the device: every handle
 * is opened once, with every event of its tensors waited for, and every tensor scanned for
 * NaN/Inf before the first byte moves, so a refused tensor or a handle that does not open
 * leaves the old weights. The backup then counts as stale: the next release copies the device.
 * Returns where the time went, for the update's reply.
 */
export async function copyIpcWeights(
  saver: MemorySaver,
  weights: LoadedWeights,
  tensors: readonly IpcTensor[],
  checks: WeightChecks = {},
): Promise<string> {
  const sources: IpcAllocation[] = [];
  const byHandle = new Map<string, number>();
  const pieces = tensors.map((t): IpcPiece => {
    const key = Buffer.from(t.ipc.handle).toString('hex');
    let source = byHandle.get(key);
    if (source === undefined) {
      source = sources.push({ handle: t.ipc.handle, events: [] }) - 1;
      byHandle.set(key, source);
    }
    if (t.ipc.event) (sources[source] as IpcAllocation).events.push(t.ipc.event);
    return {
      source,
      from: t.ipc.offset,
      to: slotOf(weights.layout, t.name).offset,
      elements: elementCount(t.shape),
      fromType: t.dtype,
      toType: weights.layout.dtype,
    };
  });
  const refuseNonFinite = !checks.allowNonFinite;
  const report = await saver.copyIpc(weights.allocation, sources, pieces, { refuseNonFinite });
  const refused = report.counts.findIndex((c) => c.count > 0);
  if (refuseNonFinite && refused >= 0)
    throw nonFiniteError(
      (tensors[refused] as IpcTensor).name,
      report.counts[refused] as NonFiniteCount,
    );
  const ms = (n: number) => n.toFixed(2);
  return (
    `device to device from ${sources.length} shared allocation${sources.length === 1 ? '' : 's'}: ` +
    `open ${ms(report.openMs)} ms, scan ${ms(report.scanMs)} ms, copy ${ms(report.copyMs)} ms, ` +
    `close ${ms(report.closeMs)} ms`
  );
}
