import { loadAddon } from './native-binding.js';
import { type DType, dtypeCode } from './ops-types.js';

/** What `countNonFinite` found. */
export interface NonFiniteCount {
  /** Values whose exponent bits are all ones: NaN, +Inf and -Inf. */
  count: number;
  /** Element index of the first of them; -1 when `count` is 0. */
  first: number;
}

/**
 * Counts the NaN and ±Inf values in host memory read as `dtype` (little-endian, any
 * alignment; a shared buffer works too). The scan runs on a libuv thread over the CPU kernels'
 * thread pool, vectorised, at about memory bandwidth, so the event loop stays free for large
 * buffers. It only reads `bytes`, which must stay unchanged until the promise settles and hold
 * a whole number of values (else it rejects with a `RangeError`).
 */
export async function countNonFinite(
  bytes: ArrayBufferView,
  dtype: DType,
): Promise<NonFiniteCount> {
  return loadAddon().countNonFinite(bytes, dtypeCode(dtype));
}
