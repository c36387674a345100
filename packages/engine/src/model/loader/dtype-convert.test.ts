import { describe, expect, it } from 'vitest';
import { convertInto, f32BitsToBf16, f32BitsToF16 } from './dtype-convert.js';
import type { TensorDtype } from './tensor-source.js';

// Node 24 ships Float16Array (correctly rounded, round to nearest even): the reference here.
type F16ArrayCtor = new (buffer: ArrayBufferLike) => { [i: number]: number; length: number };
const Float16Ref = (globalThis as unknown as { Float16Array?: F16ArrayCtor }).Float16Array;

function bytes(array: Uint16Array | Uint32Array | Float32Array): Uint8Array {
  return new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
}

function convert(src: Uint8Array, from: TensorDtype, to: TensorDtype): Uint8Array {
  const count = src.byteLength / (from === 'float32' ? 4 : 2);
  const dst = new Uint8Array(count * (to === 'float32' ? 4 : 2));
  convertInto(dst, to, src, from);
  return dst;
}

function randomBits(count: number, seed: number): Uint32Array {
  const out = new Uint32Array(count);
  let x = seed;
  for (let i = 0; i < count; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x >>> 0;
  }
  return out;
}

describe('float32 → bfloat16', () => {
  it('rounds to nearest even, keeps inf and NaN', () => {
    expect(f32BitsToBf16(0x3f800000)).toBe(0x3f80);
    expect(f32BitsToBf16(0x3f808000)).toBe(0x3f80); // tie, even stays
    expect(f32BitsToBf16(0x3f818000)).toBe(0x3f82); // tie, odd rounds up
    expect(f32BitsToBf16(0x3f808001)).toBe(0x3f81);
    expect(f32BitsToBf16(0xbf80ffff)).toBe(0xbf81);
    expect(f32BitsToBf16(0x7f7fffff)).toBe(0x7f80); // rounds up to inf
    expect(f32BitsToBf16(0xff800000)).toBe(0xff80);
    expect(f32BitsToBf16(0x7f800001) & 0x7fc0).toBe(0x7fc0); // signalling NaN stays NaN
  });

  it('widens back exactly', () => {
    const halves = new Uint16Array([0x3f80, 0xc000, 0x0001, 0x7f80, 0x7fc1]);
    const back = new Uint32Array(convert(bytes(halves), 'bfloat16', 'float32').buffer);
    expect([...back]).toEqual([0x3f800000, 0xc0000000, 0x00010000, 0x7f800000, 0x7fc10000]);
  });
});

describe('float16', () => {
  it('widens every float16 bit pattern exactly', () => {
    expect(Float16Ref).toBeDefined();
    const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const ours = new Float32Array(convert(bytes(all), 'float16', 'float32').buffer);
    const ref = new (Float16Ref as F16ArrayCtor)(all.buffer);
    for (let i = 0; i < 65536; i++) {
      const expected = ref[i] as number;
      if (Number.isNaN(expected)) expect(Number.isNaN(ours[i])).toBe(true);
      else expect(ours[i]).toBe(expected);
    }
  });

  it('narrows float32 like Float16Array (subnormals, ties, overflow)', () => {
    const special = new Float32Array([
      0,
      -0,
      1,
      -2.5,
      65504,
      65520,
      65519.99,
      1e6,
      -1e6,
      2 ** -24,
      2 ** -25,
      2 ** -25 * 1.0001,
      3 * 2 ** -25,
      2 ** -14,
      2 ** -14 - 2 ** -25,
      1 + 2 ** -11,
      1 + 3 * 2 ** -11,
      1e-10,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
    ]);
    const random = new Float32Array(randomBits(200000, 12345).buffer);
    for (const input of [special, random]) {
      const ours = new Uint16Array(convert(bytes(input), 'float32', 'float16').buffer);
      const ref = new Uint16Array(input.length);
      const view = new (Float16Ref as F16ArrayCtor)(ref.buffer);
      for (let i = 0; i < input.length; i++) {
        view[i] = input[i] as number;
        const isNan = ((ref[i] as number) & 0x7fff) > 0x7c00;
        if (isNan) expect(((ours[i] as number) & 0x7fff) > 0x7c00).toBe(true);
        else expect(ours[i]).toBe(ref[i]);
      }
    }
    expect(f32BitsToF16(0x7fc00000)).toBe(0x7e00);
  });
});

describe('convertInto', () => {
  it('converts between bfloat16 and float16 through float32', () => {
    const values = new Float32Array([1, -0.5, 3.140625, 1024, 0.0001]);
    const bf16 = convert(bytes(values), 'float32', 'bfloat16');
    const f16 = convert(bf16, 'bfloat16', 'float16');
    const back = new Float32Array(convert(f16, 'float16', 'float32').buffer);
    expect(back[0]).toBe(1);
    expect(back[2]).toBe(3.140625);
    expect(back[4]).toBeCloseTo(0.0001, 6);
    const again = convert(f16, 'float16', 'bfloat16');
    expect(new Uint16Array(again.buffer)[3]).toBe(0x4480);
  });

  it('copies the same dtype and handles unaligned buffers', () => {
    const values = new Float32Array([1, 2, 3]);
    const src = new Uint8Array(13);
    src.set(bytes(values), 1);
    const dst = new Uint8Array(7);
    convertInto(dst.subarray(1), 'bfloat16', src.subarray(1), 'float32');
    expect([...new Uint16Array(dst.slice(1).buffer)]).toEqual([0x3f80, 0x4000, 0x4040]);
    const copy = new Uint8Array(12);
    convertInto(copy, 'float32', src.subarray(1), 'float32');
    expect([...new Float32Array(copy.buffer)]).toEqual([1, 2, 3]);
  });

  it('converts in chunks across a large buffer', () => {
    const count = 100_003;
    const values = Float32Array.from({ length: count }, (_, i) => (i % 251) - 125);
    const bf16 = convert(bytes(values), 'float32', 'bfloat16');
    const back = new Float32Array(convert(bf16, 'bfloat16', 'float32').buffer);
    expect(back).toEqual(values);
  });

  it('rejects buffers of different element counts', () => {
    expect(() => convertInto(new Uint8Array(4), 'float16', new Uint8Array(4), 'float32')).toThrow(
      'convertInto: 4 bytes of float32 do not fit 4 bytes of float16',
    );
    expect(() => convertInto(new Uint8Array(4), 'float32', new Uint8Array(3), 'float16')).toThrow(
      RangeError,
    );
  });
});
