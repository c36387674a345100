import { it } from 'vitest';
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

describeKernels.each(DTYPES)('gemm in %s', (dtype: DType) => {
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
      });
      expectClose(w.read(out, m * n, dtype), gemmReference(a, weights, b, m, n, k), dtype);
    },
  );
});
