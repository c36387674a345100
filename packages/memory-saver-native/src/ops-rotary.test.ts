import { expect, it } from 'vitest';
import {
  DTYPES,
  describeKernels,
  expectClose,
  randomTensor,
  seeded,
  Workspace,
} from './ops.test-helpers.js';
import { kvOffset, rotaryReference } from './ops-reference.test-helpers.js';
import { type DType, dtypeBytes, type RotaryLayout } from './ops-types.js';

const LAYOUTS: RotaryLayout[] = ['half-split', 'adjacent'];
const cases = DTYPES.flatMap((dtype) => LAYOUTS.map((layout) => [dtype, layout] as const));

describeKernels.each(cases)('rotary and storeKv in %s', (dtype: DType, layout: RotaryLayout) => {
  // Rows padded off 16-byte alignment take the element-wise kernel; aligned rows the vector one,
  // whose block per token loops over its vectors past 512 of them (many heads) and over its angles
  // past its thread count (wide heads, few of them).
  it.each([
    ['padded rows', 16, 3, [16, 10], 4, 2],
    ['16-byte aligned rows', 64, 0, [64, 48], 4, 2],
    ['many heads', 128, 0, [128], 64, 8],
    ['few wide heads', 512, 0, [512, 256], 1, 1],
  ])(
    `rotates q and k of a fused qkv buffer in place (${layout}, %s)`,
    async (_, headDim, padding, rotaryDims, qHeads, kvHeads) => {
      const w = new Workspace();
      const random = seeded(11);
      const tokens = 6;
      const stride = (qHeads + 2 * kvHeads) * headDim + padding; // q | k | v, plus padding
      for (const rotaryDim of rotaryDims) {
        const qkv = randomTensor(random, tokens * stride, dtype);
        const positions = Int32Array.from({ length: tokens }, () => Math.floor(random() * 500));
        const invFreq = Float32Array.from(
          { length: rotaryDim / 2 },
          (_, i) => 10000 ** ((-2 * i) / rotaryDim),
        );
        const address = await w.tensor(qkv, dtype);
        const kOffset = qHeads * headDim * dtypeBytes(dtype);
        w.ops.rotary({
          q: address,
          k: address + kOffset,
          positions: await w.upload(positions),
          tokens,
          qHeads,
          kvHeads,
          headDim,
          rotaryDim,
          qStride: stride,
          kStride: stride,
          invFreq: await w.upload(invFreq),
          layout,
          dtype,
        });
        const expected = Float64Array.from(qkv);
        const shape = { headDim, rotaryDim, stride, layout };
        rotaryReference(expected, positions, invFreq, { ...shape, heads: qHeads });
        const kView = expected.subarray(qHeads * headDim);
        rotaryReference(kView, positions, invFreq, { ...shape, heads: kvHeads });
        const got = w.read(address, tokens * stride, dtype);
        expectClose(got, expected, dtype);
        for (let t = 0; t < tokens; t++) {
          for (let i = (qHeads + kvHeads) * headDim; i < stride; i++) {
            expect(got[t * stride + i]).toBe(qkv[t * stride + i]); // v and padding untouched
          }
          for (let h = 0; h < qHeads + kvHeads; h++) {
            for (let d = rotaryDim; d < headDim; d++) {
              const i = t * stride + h * headDim + d;
              expect(got[i]).toBe(qkv[i]); // dims past rotaryDim untouched
            }
          }
        }
      }
    },
  );
});

describeKernels.each(DTYPES)('storeKv in %s', (dtype: DType) => {
  it.each([
    ['rows off 16-byte alignment', 12, 5],
    ['16-byte aligned rows', 16, 32],
  ])(
    "writes strided k and v heads into their slots' pages and skips negative slots (%s)",
    async (_, headDim, kPadding) => {
      const w = new Workspace();
      const random = seeded(12);
      const [tokens, kvHeads, slotCount, pageSize] = [5, 2, 20, 4];
      const row = kvHeads * headDim;
      const [kStride, vStride] = [row + kPadding, 3 * row];
      const k = randomTensor(random, tokens * kStride, dtype);
      const v = randomTensor(random, tokens * vStride, dtype);
      const slots = Int32Array.of(7, 0, 19, -1, 4);
      const kCache = await w.tensor(new Float32Array(slotCount * row), dtype);
      const vCache = await w.tensor(new Float32Array(slotCount * row), dtype);
      w.ops.storeKv({
        kCache,
        vCache,
        k: await w.tensor(k, dtype),
        v: await w.tensor(v, dtype),
        slots: await w.upload(slots),
        tokens,
        kvHeads,
        headDim,
        kStride,
        vStride,
        pageSize,
        dtype,
      });
      const expectedK = new Float32Array(slotCount * row);
      const expectedV = new Float32Array(slotCount * row);
      slots.forEach((slot, t) => {
        if (slot < 0) return;
        for (let h = 0; h < kvHeads; h++) {
          const to = kvOffset({ kvHeads, headDim, pageSize }, slot, h);
          const [kFrom, vFrom] = [t * kStride + h * headDim, t * vStride + h * headDim];
          expectedK.set(k.subarray(kFrom, kFrom + headDim), to);
          expectedV.set(v.subarray(vFrom, vFrom + headDim), to);
        }
      });
      expect(Array.from(w.read(kCache, slotCount * row, dtype))).toEqual(Array.from(expectedK));
      expect(Array.from(w.read(vCache, slotCount * row, dtype))).toEqual(Array.from(expectedV));
    },
  );
});

describeKernels.each(cases)('rotaryStoreKv in %s', (dtype: DType, layout: RotaryLayout) => {
  // The first two shapes take CUDA's one-launch kernel (the second with more vectors a token than
  // its block has threads); the others (part of each head rotated, rows off 16-byte alignment)
  // run rotary then storeKv there. Every backend must equal the two calls.
  it.each([
    ['whole heads, aligned rows', 64, 64, 0, 4],
    ['whole heads, more vectors than threads', 128, 128, 0, 64],
    ['part of each head rotated', 64, 48, 0, 4],
    ['rows off 16-byte alignment', 16, 16, 3, 4],
  ])(
    `leaves q, k and both caches as rotary then storeKv do (${layout}, %s)`,
    async (_, headDim, rotaryDim, padding, qHeads) => {
      const w = new Workspace();
      const random = seeded(13);
      const [tokens, kvHeads, slotCount, pageSize] = [7, 2, 12, 4];
      const stride = (qHeads + 2 * kvHeads) * headDim + padding;
      const row = kvHeads * headDim;
      const qkv = randomTensor(random, tokens * stride, dtype);
      const positions = await w.upload(
        Int32Array.from({ length: tokens }, () => Math.floor(random() * 500)),
      );
      const invFreq = await w.upload(
        Float32Array.from({ length: rotaryDim / 2 }, (_, i) => 10000 ** ((-2 * i) / rotaryDim)),
      );
      const slots = await w.upload(Int32Array.of(3, 0, 11, -1, 5, 8, 1));
      const element = dtypeBytes(dtype);
      const layer = async () => {
        const q = await w.tensor(qkv, dtype);
        const kCache = await w.tensor(new Float32Array(slotCount * row), dtype);
        const vCache = await w.tensor(new Float32Array(slotCount * row), dtype);
        const k = q + qHeads * headDim * element;
        const v = k + kvHeads * headDim * element;
        const rotary = {
          q,
          k,
          positions,
          tokens,
          qHeads,
          kvHeads,
          headDim,
          rotaryDim,
          qStride: stride,
          kStride: stride,
          invFreq,
          layout,
          dtype,
        };
        const store = { kCache, vCache, k, v, slots, tokens, kvHeads, headDim, pageSize, dtype };
        return { rotary, store: { ...store, kStride: stride, vStride: stride } };
      };
      const [fused, apart] = [await layer(), await layer()];
      w.ops.rotaryStoreKv(fused);
      w.ops.rotary(apart.rotary);
      w.ops.storeKv(apart.store);
      const read = (at: number, n: number) => Array.from(w.read(at, n, dtype));
      expect(read(fused.rotary.q, tokens * stride)).toEqual(read(apart.rotary.q, tokens * stride));
      for (const cache of ['kCache', 'vCache'] as const) {
        const got = read(fused.store[cache], slotCount * row);
        expect(got).toEqual(read(apart.store[cache], slotCount * row));
        expect(got.some((x) => x !== 0)).toBe(true);
      }
    },
  );
});
