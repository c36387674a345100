import { describe, expect, it } from 'vitest';
import { decodeBfloat16, decodeFloat16, encodeBfloat16, encodeFloat16 } from './half-precision.js';
import { dtypeBytes } from './ops-types.js';

const encode = (f: (v: Float32Array) => Uint16Array, ...values: number[]) =>
  Array.from(f(Float32Array.from(values)));

describe('half-precision encodings', () => {
  it('bfloat16 keeps the top 16 bits, rounding to nearest even', () => {
    expect(encode(encodeBfloat16, 1, -2, 0, 1 + 2 ** -8, 1 + 3 * 2 ** -8)).toEqual([
      0x3f80, 0xc000, 0, 0x3f80, 0x3f82,
    ]);
    expect(encode(encodeBfloat16, Number.POSITIVE_INFINITY, 3.4e38)).toEqual([0x7f80, 0x7f80]);
    expect(Number.isNaN(decodeBfloat16(encodeBfloat16(Float32Array.of(Number.NaN)))[0])).toBe(true);
    expect(Array.from(decodeBfloat16(Uint16Array.of(0x3f80, 0xc040)))).toEqual([1, -3]);
  });

  it('float16 rounds to nearest even, with subnormals, overflow and NaN', () => {
    expect(encode(encodeFloat16, 1, -2, 65504, 65519, 65520, 1e6)).toEqual([
      0x3c00, 0xc000, 0x7bff, 0x7bff, 0x7c00, 0x7c00,
    ]);
    expect(encode(encodeFloat16, 2 ** -24, 2 ** -25, 3 * 2 ** -25, 2 ** -14, 1 + 2 ** -11)).toEqual(
      [1, 0, 2, 0x0400, 0x3c00],
    );
    expect(encode(encodeFloat16, Number.NaN)[0]).toBe(0x7e00);
    const back = decodeFloat16(Uint16Array.of(0x3c00, 0x8001, 0x7c00, 0xfc00, 0x7e00, 0x3555));
    expect(Array.from(back.subarray(0, 4))).toEqual([1, -(2 ** -24), Infinity, -Infinity]);
    expect(Number.isNaN(back[4])).toBe(true);
    expect(back[5]).toBeCloseTo(1 / 3, 3);
  });

  it('round-trips every float16 value', () => {
    const all = new Uint16Array(0x10000).map((_, i) => i);
    const finite = all.filter((h) => (h & 0x7c00) !== 0x7c00);
    expect(Array.from(encodeFloat16(decodeFloat16(finite)))).toEqual(Array.from(finite));
  });

  it('dtypeBytes gives the element size', () => {
    expect([dtypeBytes('float32'), dtypeBytes('bfloat16'), dtypeBytes('float16')]).toEqual([
      4, 2, 2,
    ]);
  });
});
