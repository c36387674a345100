import { describe, expect } from 'vitest';
import { decodeBfloat16, decodeFloat16, encodeBfloat16, encodeFloat16 } from './half-precision.js';
import type { MemorySaver } from './memory-saver.js';
import { openSaver } from './memory-saver.test-helpers.js';
import { createOps, type Ops } from './ops.js';
import { type DeviceAddress, type DType, dtypeBytes } from './ops-types.js';

export const DTYPES: DType[] = ['float32', 'bfloat16', 'float16'];

/** Kernel suites run on the backend under test (TS_DEVICE: the CPU, or CUDA on the device). */
export const describeKernels: typeof describe = describe;

/**
 * Relative tolerance per dtype (outputs are rounded to the dtype; inputs are exact). float32
 * covers sums taken in another order (CUDA, cuBLAS), which move results by a few ulp.
 */
const TOLERANCE: Record<DType, number> = { float32: 1e-5, bfloat16: 1e-2, float16: 2e-3 };

/** A seeded generator of floats in [0, 1) (mulberry32). */
export function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n values uniform in [-scale, scale), already representable in `dtype`. */
export function randomTensor(
  random: () => number,
  n: number,
  dtype: DType,
  scale = 1,
): Float32Array {
  const values = new Float32Array(n);
  for (let i = 0; i < n; i++) values[i] = (random() * 2 - 1) * scale;
  return roundTo(values, dtype);
}

/** The values as the device stores them in `dtype`. */
export function roundTo(values: Float32Array, dtype: DType): Float32Array {
  if (dtype === 'bfloat16') return decodeBfloat16(encodeBfloat16(values));
  if (dtype === 'float16') return decodeFloat16(encodeFloat16(values));
  return Float32Array.from(values);
}

/** |actual - expected| <= tol * (|expected| + rms(expected)) element by element. */
export function expectClose(
  actual: Float32Array,
  expected: ArrayLike<number>,
  dtype: DType,
  tolerance = TOLERANCE[dtype],
): void {
  expect(actual.length).toBe(expected.length);
  let squares = 0;
  for (let i = 0; i < expected.length; i++) squares += (expected[i] as number) ** 2;
  const rms = Math.sqrt(squares / Math.max(1, expected.length));
  for (let i = 0; i < expected.length; i++) {
    const want = expected[i] as number;
    const got = actual[i] as number;
    if (!(Math.abs(got - want) <= tolerance * (Math.abs(want) + rms))) {
      expect.fail(`element ${i}: got ${got}, expected ${want} (${dtype}, tolerance ${tolerance})`);
    }
  }
}

/** A saver and its kernels, with helpers that allocate untagged memory for test tensors. */
export class Workspace {
  readonly saver: MemorySaver = openSaver();
  readonly ops: Ops = createOps(this.saver);

  async allocate(bytes: number): Promise<DeviceAddress> {
    return Number((await this.saver.allocate(bytes)).address);
  }

  /** Allocates room for `values` (and `extra` elements more) and uploads them as `dtype`. */
  async tensor(values: Float32Array, dtype: DType, extra = 0): Promise<DeviceAddress> {
    const address = await this.allocate((values.length + extra) * dtypeBytes(dtype));
    this.ops.uploadTensor(address, values, dtype);
    return address;
  }

  async upload(data: Int32Array | Float32Array | BigUint64Array): Promise<DeviceAddress> {
    const address = await this.allocate(Math.max(1, data.byteLength));
    this.ops.upload(address, data);
    return address;
  }

  read(address: DeviceAddress, count: number, dtype: DType): Float32Array {
    return this.ops.downloadTensor(address, count, dtype);
  }
}
