import { expect, it } from 'vitest';
import {
  DTYPES,
  describeKernels,
  expectClose,
  randomTensor,
  seeded,
  Workspace,
} from './ops.test-helpers.js';
import { gemmReference } from './ops-reference.test-helpers.js';
import type { DType } from './ops-types.js';

const SHAPES = [
  { m: 3, n: 37, k: 29, bias: false },
  { m: 3, n: 37, k: 29, bias: true },
  { m: 1, n: 300, k: 2053, bias: false },
  { m: 70, n: 130, k: 300, bias: true },
  // Decode shapes with rows of 16-byte vectors: CUDA's gemv kernel up to m = 4, then cuBLAS.
  { m: 1, n: 300, k: 2048, bias: false },
  { m: 2, n: 33, k: 96, bias: false },
  { m: 3, n: 9, k: 8192, bias: true },
  { m: 4, n: 20, k: 64, bias: true },
  { m: 5, n: 37, k: 64, bias: true },
  { m: 8, n: 130, k: 1024, bias: true },
];

const MODES = DTYPES.flatMap((dtype) =>
  [false, true].map((invariant) => [dtype, invariant] as const),
);

describeKernels.each(MODES)(
  'gemm in %s (batch-invariant: %s)',
  (dtype: DType, batchInvariant: boolean) => {
    it.each(SHAPES)(
      'm=$m n=$n k=$k bias=$bias matches a · wᵀ (+ bias)',
      async ({ m, n, k, bias }) => {
        const w = new Workspace();
        const random = seeded(m * 1000 + n + k);
        const a = randomTensor(random, m * k, dtype);
        const weights = randomTensor(random, n * k, dtype);
        const b = bias ? randomTensor(random, n, dtype) : null;
        const out = await w.allocate(m * n * 4);
        const biasAddress = b ? await w.tensor(b, dtype) : 0;
        w.ops.gemm({
          out,
          a: await w.tensor(a, dtype),
          w: await w.tensor(weights, dtype),
          bias: biasAddress,
          m,
          n,
          k,
          dtype,
          batchInvariant,
        });
        expectClose(w.read(out, m * n, dtype), gemmReference(a, weights, b, m, n, k), dtype);
      },
    );
  },
);

// Issue 17: a batch-invariant GEMM gives each row the same bits whatever rows ride with it.
// k = 264 takes CUDA's tensor-core kernel (rows of 16-byte vectors), k = 30 its CUDA-core one.
describeKernels.each(DTYPES)('batch-invariant gemm in %s', (dtype: DType) => {
  it.each([
    { m: 200, n: 150, k: 264 },
    { m: 130, n: 70, k: 30 },
  ])(
    'm=$m n=$n k=$k: rows computed alone or in any batch are bit-identical',
    async ({ m, n, k }) => {
      const w = new Workspace();
      const random = seeded(m + n + k);
      const bytes = dtype === 'float32' ? 4 : 2;
      const a = await w.tensor(randomTensor(random, m * k, dtype), dtype);
      const weights = await w.tensor(randomTensor(random, n * k, dtype), dtype);
      const bias = await w.tensor(randomTensor(random, n, dtype), dtype);
      const rowsOf = async (first: number, count: number) => {
        const out = await w.allocate(count * n * bytes);
        const rowsAt = a + first * k * bytes;
        w.ops.gemm({
          out,
          a: rowsAt,
          w: weights,
          bias,
          m: count,
          n,
          k,
          dtype,
          batchInvariant: true,
        });
        return new Uint32Array(w.read(out, count * n, dtype).buffer);
      };
      const whole = await rowsOf(0, m);
      for (const [first, count] of [
        [0, 1],
        [m - 1, 1],
        [3, 2],
        [5, 37],
        [64, 64],
        [m - 65, 65],
      ] as const) {
        expect(await rowsOf(first, count)).toEqual(whole.slice(first * n, (first + count) * n));
      }
    },
  );
});
