import type { TensorShard } from './shard-plan.js';

/**
 * The bytes of a rank's shard, cut from the whole tensor's row-major bytes (`elementBytes`
 * each): contiguous rows for `rows`, a block of every row for `columns`, all or nothing for
 * `replicated` and `first-rank`. Returns a view of `full` where the shard is contiguous.
 */
export function shardBytes(full: Uint8Array, shard: TensorShard, elementBytes: number): Uint8Array {
  const elements = shard.fullShape.reduce((a, b) => a * b, 1);
  if (full.byteLength !== elements * elementBytes) {
    throw new RangeError(
      `${shard.name}: ${full.byteLength} bytes do not hold shape [${shard.fullShape.join(', ')}] ` +
        `of ${elementBytes}-byte elements`,
    );
  }
  if (shard.shape.length === 0) return full.subarray(0, 0);
  if (shard.split === 'replicated' || shard.split === 'first-rank') return full;
  const rowBytes = (elements / (shard.fullShape[0] ?? 1)) * elementBytes;
  if (shard.split === 'rows') {
    return full.subarray(shard.start * rowBytes, (shard.start + shard.length) * rowBytes);
  }
  const rows = shard.fullShape[0] ?? 0;
  const pieceBytes = shard.length * elementBytes;
  const out = new Uint8Array(rows * pieceBytes);
  for (let row = 0; row < rows; row += 1) {
    const from = row * rowBytes + shard.start * elementBytes;
    out.set(full.subarray(from, from + pieceBytes), row * pieceBytes);
  }
  return out;
}
