import { DTYPE_BYTES, type TensorDtype } from './tensor-source.js';

// Conversions go through float32 bit patterns in cache-sized chunks: decode a chunk of the
// source into `bits`, then encode `bits` into the destination. Little-endian hosts only.

const CHUNK = 16384;

let f16Table: Uint32Array | null = null;

/** float16 bit pattern → float32 bit pattern, exact for every input (subnormals, inf, NaN). */
function f16ToF32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  let mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0;
  if (exp !== 0) return (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0;
  if (mant === 0) return sign >>> 0;
  let e = 113;
  while ((mant & 0x400) === 0) {
    mant <<= 1;
    e--;
  }
  return (sign | (e << 23) | ((mant & 0x3ff) << 13)) >>> 0;
}

function f16Lookup(): Uint32Array {
  if (f16Table === null) {
    f16Table = new Uint32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f16ToF32Bits(h);
  }
  return f16Table;
}

/** float32 bit pattern → float16, round to nearest even; overflow → inf, NaN stays NaN. */
export function f32BitsToF16(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant === 0 ? 0 : 0x200 | (mant >>> 13));
  const e = exp - 112;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    const full = mant | 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = full & ((1 << shift) - 1);
    let h = full >>> shift;
    if (rest > half || (rest === half && (h & 1) === 1)) h++;
    return sign | h;
  }
  let h = sign | (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1) === 1)) h++;
  return h;
}

/** float32 bit pattern → bfloat16, round to nearest even; NaN stays a (quiet) NaN. */
export function f32BitsToBf16(x: number): number {
  if ((x & 0x7fffffff) > 0x7f800000) return (x >>> 16) | 0x40;
  return ((x >>> 0) + 0x7fff + ((x >>> 16) & 1)) >>> 16;
}

function decode(src: Uint8Array, dtype: TensorDtype, start: number, bits: Uint32Array): void {
  const n = bits.length;
  if (dtype === 'float32') {
    bits.set(new Uint32Array(src.buffer, src.byteOffset + start * 4, n));
    return;
  }
  const halves = new Uint16Array(src.buffer, src.byteOffset + start * 2, n);
  if (dtype === 'bfloat16') {
    for (let i = 0; i < n; i++) bits[i] = (halves[i] as number) << 16;
  } else {
    const table = f16Lookup();
    for (let i = 0; i < n; i++) bits[i] = table[halves[i] as number] as number;
  }
}

function encode(bits: Uint32Array, dst: Uint8Array, dtype: TensorDtype, start: number): void {
  const n = bits.length;
  if (dtype === 'float32') {
    new Uint32Array(dst.buffer, dst.byteOffset + start * 4, n).set(bits);
    return;
  }
  const halves = new Uint16Array(dst.buffer, dst.byteOffset + start * 2, n);
  if (dtype === 'bfloat16') {
    for (let i = 0; i < n; i++) halves[i] = f32BitsToBf16(bits[i] as number);
  } else {
    for (let i = 0; i < n; i++) halves[i] = f32BitsToF16(bits[i] as number);
  }
}

function aligned(bytes: Uint8Array, dtype: TensorDtype): Uint8Array {
  return bytes.byteOffset % DTYPE_BYTES[dtype] === 0 ? bytes : bytes.slice();
}

/**
 * Converts the elements of `src` (of `srcDtype`) into `dst` (of `dstDtype`); both hold the same
 * element count. float32 → bfloat16 / float16 round to nearest even (float16 with subnormals,
 * overflow to inf, NaN kept); widening is exact. Changes only `dst`; `src` may alias nothing in it.
 */
export function convertInto(
  dst: Uint8Array,
  dstDtype: TensorDtype,
  src: Uint8Array,
  srcDtype: TensorDtype,
): void {
  const count = src.byteLength / DTYPE_BYTES[srcDtype];
  if (!Number.isInteger(count) || dst.byteLength !== count * DTYPE_BYTES[dstDtype]) {
    throw new RangeError(
      `convertInto: ${src.byteLength} bytes of ${srcDtype} do not fit ` +
        `${dst.byteLength} bytes of ${dstDtype}`,
    );
  }
  if (dstDtype === srcDtype) {
    dst.set(src);
    return;
  }
  const source = aligned(src, srcDtype);
  const target = aligned(dst, dstDtype);
  const scratch = new Uint32Array(Math.min(CHUNK, count));
  for (let start = 0; start < count; start += CHUNK) {
    const bits = scratch.subarray(0, Math.min(CHUNK, count - start));
    decode(source, srcDtype, start, bits);
    encode(bits, target, dstDtype, start);
  }
  if (target !== dst) dst.set(target);
}
