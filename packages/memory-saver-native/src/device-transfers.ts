import { decodeBfloat16, decodeFloat16, encodeBfloat16, encodeFloat16 } from './half-precision.js';
import type { NativeOps } from './native-binding.js';
import type { DeviceAddress, DType } from './ops-types.js';

function bytesOf(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

/**
 * Host <-> device copies of raw ranges, and of float tensors in any dtype. The host memory may
 * be reused as soon as a call returns; a download returns with the data, a small upload may
 * only be queued, ahead of every later kernel.
 */
export class DeviceTransfers {
  readonly #native: NativeOps;

  constructor(native: NativeOps) {
    this.#native = native;
  }

  /** Copies the bytes of `data` (any typed array: Int32Array, BigUint64Array, ...) to `address`. */
  upload(address: DeviceAddress, data: ArrayBufferView): void {
    this.#native.upload(address, bytesOf(data));
  }

  /** Fills `into` with `into.byteLength` bytes from `address`. */
  download(address: DeviceAddress, into: ArrayBufferView): void {
    this.#native.download(address, bytesOf(into));
  }

  /**
   * Queues a copy of `bytes` bytes at `address`, behind every kernel and copy so far, without
   * waiting for it; `takeDownload(ticket, into)` then waits for that copy alone (work queued
   * after it may still run) and fills `into` (exactly `bytes` long). Each ticket is taken once;
   * at most 4 are queued and not taken at a time.
   */
  queueDownload(address: DeviceAddress, bytes: number): number {
    return this.#native.queueDownload(address, bytes);
  }

  takeDownload(ticket: number, into: ArrayBufferView): void {
    this.#native.takeDownload(ticket, bytesOf(into));
  }

  downloadFloat32(address: DeviceAddress, count: number): Float32Array {
    const out = new Float32Array(count);
    this.download(address, out);
    return out;
  }

  downloadInt32(address: DeviceAddress, count: number): Int32Array {
    const out = new Int32Array(count);
    this.download(address, out);
    return out;
  }

  /** Writes float32 values to `address` as `dtype` (bfloat16 / float16 rounded to nearest even). */
  uploadTensor(address: DeviceAddress, values: Float32Array, dtype: DType): void {
    if (dtype === 'float32') this.upload(address, values);
    else if (dtype === 'bfloat16') this.upload(address, encodeBfloat16(values));
    else if (dtype === 'float16') this.upload(address, encodeFloat16(values));
    else throw new TypeError(`dtype must be 'float32', 'bfloat16' or 'float16', got '${dtype}'`);
  }

  /** Reads `count` elements of `dtype` at `address` as float32 values. */
  downloadTensor(address: DeviceAddress, count: number, dtype: DType): Float32Array {
    if (dtype === 'float32') return this.downloadFloat32(address, count);
    const half = new Uint16Array(count);
    this.download(address, half);
    if (dtype === 'bfloat16') return decodeBfloat16(half);
    if (dtype === 'float16') return decodeFloat16(half);
    throw new TypeError(`dtype must be 'float32', 'bfloat16' or 'float16', got '${dtype}'`);
  }

  /** Waits for every kernel and copy issued so far (a no-op on the CPU). */
  synchronize(): void {
    this.#native.synchronize();
  }
}
