import { describe, expect, it } from 'vitest';
import { countNonFinite } from './non-finite.js';
import type { DType } from './ops-types.js';

interface Case {
  dtype: DType;
  /** Bytes per value. */
  size: 2 | 4;
  /** Finite extremes: ±max finite, the smallest subnormal, -0. */
  extremes: number[];
  nan: number;
  negativeNan: number;
  signallingNan: number;
  inf: number;
  negativeInf: number;
}

const CASES: Case[] = [
  {
    dtype: 'float32',
    size: 4,
    extremes: [0x7f7fffff, 0xff7fffff, 0x00000001, 0x80000000],
    nan: 0x7fc00000,
    negativeNan: 0xffc00000,
    signallingNan: 0x7f800001,
    inf: 0x7f800000,
    negativeInf: 0xff800000,
  },
  {
    dtype: 'bfloat16',
    size: 2,
    extremes: [0x7f7f, 0xff7f, 0x0001, 0x8000],
    nan: 0x7fc0,
    negativeNan: 0xffc0,
    signallingNan: 0x7f81,
    inf: 0x7f80,
    negativeInf: 0xff80,
  },
  {
    dtype: 'float16',
    size: 2,
    extremes: [0x7bff, 0xfbff, 0x0001, 0x8000],
    nan: 0x7e00,
    negativeNan: 0xfe00,
    signallingNan: 0x7c01,
    inf: 0x7c00,
    negativeInf: 0xfc00,
  },
];

/** `count` values, finite ones of every exponent but the all-ones one, the extremes spread in. */
function finiteValues(c: Case, count: number): Uint32Array {
  const values = new Uint32Array(count);
  const mantissaBits = c.size === 4 ? 23 : c.dtype === 'bfloat16' ? 7 : 10;
  const exponents = (c.size === 4 ? 255 : c.dtype === 'bfloat16' ? 255 : 31) - 1;
  for (let i = 0; i < count; i++) {
    const sign = i & 1 ? 1 : 0;
    const exponent = (i * 7) % (exponents + 1);
    const mantissa = (i * 2654435761) % 2 ** mantissaBits;
    values[i] = sign * 2 ** (c.size * 8 - 1) + exponent * 2 ** mantissaBits + mantissa;
  }
  if (count > 0)
    for (const [k, extreme] of c.extremes.entries()) values[(k * 977) % count] = extreme;
  return values;
}

/** The values as little-endian bytes of `c.size`, starting `skew` bytes into a larger buffer. */
function bytesOf(c: Case, values: Uint32Array, skew = 0): Uint8Array {
  const bytes = new Uint8Array(values.length * c.size + skew).subarray(skew);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  values.forEach((v, i) => {
    if (c.size === 4) view.setUint32(i * 4, v, true);
    else view.setUint16(i * 2, v, true);
  });
  return bytes;
}

function reference(c: Case, values: Uint32Array): { count: number; first: number } {
  const mask = c.inf;
  let count = 0;
  let first = -1;
  values.forEach((v, i) => {
    if ((v & mask) >>> 0 !== mask) return;
    if (count++ === 0) first = i;
  });
  return { count, first };
}

describe.each(CASES)('countNonFinite($dtype)', (c) => {
  // Lengths around the 64-byte vectors and 64 KiB blocks, with tails of odd lengths, and one
  // over several MiB, which the thread pool splits.
  const lengths = [0, 1, 7, 31, 33, 1000, 32768 + 5, 65536 * 3 + 17, (5 << 20) / c.size + 3];

  it('finds none in finite values, max finite and subnormals included', async () => {
    for (const n of lengths) {
      await expect(countNonFinite(bytesOf(c, finiteValues(c, n)), c.dtype)).resolves.toEqual({
        count: 0,
        first: -1,
      });
    }
  });

  it('counts NaN, +Inf and -Inf at the start, middle and end (tails and unaligned too)', async () => {
    for (const n of lengths.filter((l) => l >= 3)) {
      for (const skew of [0, 1, 3]) {
        const values = finiteValues(c, n);
        values[0] = c.nan;
        values[Math.floor(n / 2)] = c.inf;
        values[n - 1] = c.negativeInf;
        const found = await countNonFinite(bytesOf(c, values, skew), c.dtype);
        expect(found).toEqual({ count: 3, first: 0 });
      }
    }
  });

  it('gives the count and the first index wherever the values sit', async () => {
    const n = (3 << 20) / c.size + 11;
    const values = finiteValues(c, n);
    const kinds = [c.nan, c.negativeNan, c.signallingNan, c.inf, c.negativeInf];
    for (let k = 0; k < 40; k++)
      values[(k * 1_234_567 + 777_777) % n] = kinds[k % kinds.length] as number;
    values[n - 2] = c.nan; // in the scalar tail of the last piece
    const expected = reference(c, values);
    expect(expected.count).toBeGreaterThan(30);
    await expect(countNonFinite(bytesOf(c, values, 1), c.dtype)).resolves.toEqual(expected);
    const onlyLast = finiteValues(c, n);
    onlyLast[n - 1] = c.negativeNan;
    await expect(countNonFinite(bytesOf(c, onlyLast), c.dtype)).resolves.toEqual({
      count: 1,
      first: n - 1,
    });
  });

  it('counts every value of a buffer that is all NaN', async () => {
    const n = (2 << 20) / c.size + 9;
    const values = new Uint32Array(n).fill(c.nan);
    await expect(countNonFinite(bytesOf(c, values), c.dtype)).resolves.toEqual({
      count: n,
      first: 0,
    });
  });
});

describe('countNonFinite views', () => {
  it('reads typed arrays of other kinds, DataViews and shared memory in place', async () => {
    const floats = Float32Array.of(1, Number.NaN, 2, Number.POSITIVE_INFINITY, 3.4028234e38);
    await expect(countNonFinite(floats, 'float32')).resolves.toEqual({ count: 2, first: 1 });
    await expect(countNonFinite(floats.subarray(2), 'float32')).resolves.toEqual({
      count: 1,
      first: 1,
    });
    const view = new DataView(floats.buffer, 8, 8);
    await expect(countNonFinite(view, 'float32')).resolves.toEqual({ count: 1, first: 1 });
    const shared = new Uint16Array(new SharedArrayBuffer(64));
    shared[5] = 0x7c00;
    await expect(countNonFinite(shared, 'float16')).resolves.toEqual({ count: 1, first: 5 });
    await expect(countNonFinite(shared, 'bfloat16')).resolves.toEqual({ count: 0, first: -1 });
  });

  it('refuses a partial value, an unknown dtype and a non-view', async () => {
    await expect(countNonFinite(new Uint8Array(6), 'float32')).rejects.toThrow(RangeError);
    await expect(countNonFinite(new Uint8Array(3), 'bfloat16')).rejects.toThrow(/whole number/);
    await expect(countNonFinite(new Uint8Array(4), 'int8' as DType)).rejects.toThrow(TypeError);
    await expect(
      countNonFinite(new ArrayBuffer(4) as unknown as Uint8Array, 'float32'),
    ).rejects.toThrow(/typed array/);
  });
});
