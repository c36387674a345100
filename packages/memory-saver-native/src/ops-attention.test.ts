import { it } from 'vitest';
import {
  DTYPES,
  describeKernels,
  expectClose,
  randomTensor,
  seeded,
  Workspace,
} from './ops.test-helpers.js';
import { type AttentionCase, attentionReference } from './ops-reference.test-helpers.js';
import type { DType } from './ops-types.js';

/** Pages handed out in a shuffled order, so no sequence's pages are contiguous. */
function scatteredPageTable(seqLens: number[], pageSize: number, stride: number, pages: number) {
  const random = seeded(99);
  const free = Array.from({ length: pages }, (_, i) => i);
  for (let i = pages - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [free[i], free[j]] = [free[j] as number, free[i] as number];
  }
  const table = new Int32Array(seqLens.length * stride).fill(-1);
  seqLens.forEach((len, s) => {
    for (let p = 0; p < Math.ceil(len / pageSize); p++)
      table[s * stride + p] = free.pop() as number;
  });
  return table;
}

interface Shape {
  qHeads: number;
  kvHeads: number;
  headDim: number;
  pageSize: number;
  qLens: number[];
  seqLens: number[];
}

/** Runs attention over random q and caches in `dtype` and compares with the reference. */
async function expectAttention(dtype: DType, shape: Shape, seed: number): Promise<void> {
  const w = new Workspace();
  const random = seeded(seed);
  const { qHeads, kvHeads, headDim, pageSize, qLens, seqLens } = shape;
  const pageTableStride = Math.ceil(Math.max(...seqLens) / pageSize) + 1;
  const pages = seqLens.reduce((sum, len) => sum + Math.ceil(len / pageSize), 0) + 3;
  const c: AttentionCase = {
    ...shape,
    qStride: qHeads * headDim + 8,
    pageTableStride,
    pageTable: scatteredPageTable(seqLens, pageSize, pageTableStride, pages),
    scale: 1 / Math.sqrt(headDim),
  };
  const tokens = qLens.reduce((sum, n) => sum + n, 0);
  const cacheSize = pages * pageSize * kvHeads * headDim;
  const q = randomTensor(random, tokens * c.qStride, dtype, 2);
  const kCache = randomTensor(random, cacheSize, dtype, 2);
  const vCache = randomTensor(random, cacheSize, dtype);
  let total = 0;
  const queryStart = Int32Array.from([0, ...qLens.map((n) => (total += n))]);
  const batch = {
    numSeqs: qLens.length,
    queryStart: await w.upload(queryStart),
    seqLens: await w.upload(Int32Array.from(seqLens)),
    pageTable: await w.upload(c.pageTable),
    pageTableStride,
    pageSize,
  };
  const outSize = tokens * qHeads * headDim;
  const out = await w.allocate(outSize * 4);
  const [qAddress, kAddress, vAddress] = [
    await w.tensor(q, dtype),
    await w.tensor(kCache, dtype),
    await w.tensor(vCache, dtype),
  ];
  w.ops.attention({
    out,
    q: qAddress,
    kCache: kAddress,
    vCache: vAddress,
    batch,
    tokens,
    qHeads,
    kvHeads,
    headDim,
    qStride: c.qStride,
    scale: c.scale,
    dtype,
  });
  expectClose(w.read(out, outSize, dtype), attentionReference(c, q, kCache, vCache), dtype);
}

const shapes = DTYPES.flatMap((dtype) => [16, 20].map((headDim) => [dtype, headDim] as const));

describeKernels.each(shapes)('attention in %s, headDim %i', (dtype: DType, headDim: number) => {
  it('matches the reference over a mixed batch: cached prefixes, decode rows, GQA, scattered pages', async () => {
    // prefill after a cached prefix, decode, fresh prefill, decode of a first token, long prefill
    const shape = { qHeads: 4, kvHeads: 2, headDim, pageSize: 3 };
    await expectAttention(
      dtype,
      { ...shape, qLens: [3, 1, 5, 1, 40], seqLens: [7, 10, 5, 1, 70] },
      21 + headDim,
    );
  });
});

// Shapes that take the CUDA backend's other paths: many sequences (one pass over the keys per
// item) and few long ones (keys split over blocks), larger heads.
describeKernels.each(DTYPES)('attention in %s over larger batches', (dtype: DType) => {
  const lengths = (count: number, seed: number, most: number) => {
    const random = seeded(seed);
    return Array.from({ length: count }, () => 1 + Math.floor(random() * most));
  };

  it('decodes 150 sequences, headDim 128, 4 query heads per kv head', async () => {
    const seqLens = lengths(150, 5, 60);
    const shape = { qHeads: 8, kvHeads: 2, headDim: 128, pageSize: 16 };
    await expectAttention(dtype, { ...shape, qLens: seqLens.map(() => 1), seqLens }, 41);
  });

  it('prefills 140 sequences after cached prefixes, headDim 64', async () => {
    const qLens = lengths(140, 6, 12);
    const seqLens = qLens.map((qLen, s) => qLen + ((s * 7) % 25));
    const shape = { qHeads: 4, kvHeads: 2, headDim: 64, pageSize: 16 };
    await expectAttention(dtype, { ...shape, qLens, seqLens }, 42);
  });

  it('decodes and prefills a few long sequences', async () => {
    const shape = { qHeads: 4, kvHeads: 1, headDim: 64, pageSize: 16 };
    await expectAttention(dtype, { ...shape, qLens: [1, 100, 1], seqLens: [3000, 600, 33] }, 43);
  });
});

// Later layers of a forward pass pass reusePlan: the CUDA backend keeps the first call's work
// items (two 64-row items for a 40-token query, one for a 1-token one), and must plan again
// once an upload has changed the metadata, even when a caller still says reusePlan.
describeKernels.each(DTYPES)('attention in %s with reusePlan', (dtype: DType) => {
  it('keeps the plan while the metadata stays, and plans again after an upload', async () => {
    const w = new Workspace();
    const random = seeded(77);
    const [qHeads, kvHeads, headDim, pageSize] = [4, 2, 16, 4];
    const pageTableStride = 14;
    const pageTable = scatteredPageTable([50, 50], pageSize, pageTableStride, 30);
    const cacheSize = 30 * pageSize * kvHeads * headDim;
    const kCache = randomTensor(random, cacheSize, dtype, 2);
    const vCache = randomTensor(random, cacheSize, dtype);
    const tokens = 41;
    const qStride = qHeads * headDim;
    const q = randomTensor(random, tokens * qStride, dtype, 2);
    const [qAddress, kAddress, vAddress] = [
      await w.tensor(q, dtype),
      await w.tensor(kCache, dtype),
      await w.tensor(vCache, dtype),
    ];
    const queryStart = await w.upload(Int32Array.from([0, 40, 41]));
    const seqLens = await w.upload(Int32Array.from([50, 10]));
    const batch = {
      numSeqs: 2,
      queryStart,
      seqLens,
      pageTable: await w.upload(pageTable),
      pageTableStride,
      pageSize,
    };
    const outSize = tokens * qHeads * headDim;
    const out = await w.allocate(outSize * 4);
    const expectOutput = (qLens: number[], lens: number[], reusePlan: boolean) => {
      w.ops.attention({
        out,
        q: qAddress,
        kCache: kAddress,
        vCache: vAddress,
        batch: { ...batch, reusePlan },
        tokens,
        qHeads,
        kvHeads,
        headDim,
        qStride,
        scale: 1 / Math.sqrt(headDim),
        dtype,
      });
      const c: AttentionCase = {
        qHeads,
        kvHeads,
        headDim,
        pageSize,
        qLens,
        seqLens: lens,
        qStride,
        pageTableStride,
        pageTable,
        scale: 1 / Math.sqrt(headDim),
      };
      expectClose(w.read(out, outSize, dtype), attentionReference(c, q, kCache, vCache), dtype);
    };
    expectOutput([40, 1], [50, 10], false);
    expectOutput([40, 1], [50, 10], true);
    w.ops.upload(queryStart, Int32Array.from([0, 1, 41]));
    w.ops.upload(seqLens, Int32Array.from([10, 50]));
    expectOutput([1, 40], [10, 50], true);
    expectOutput([1, 40], [10, 50], true);
  });
});

// Decode batches (at most 16 query rows per sequence on a kv head) of bfloat16 / float16 with
// 64- or 128-wide heads take the CUDA backend's tensor-core kernel: partial last tiles, keys
// split over blocks for few sequences, GQA groups of 1 to 8, a few rows past the first token.
describeKernels.each(DTYPES)('attention in %s on decode batches', (dtype: DType) => {
  const lengths = (count: number, seed: number, most: number) => {
    const random = seeded(seed);
    return Array.from({ length: count }, () => 1 + Math.floor(random() * most));
  };

  it.each([
    [64, 8, 2],
    [64, 2, 2],
    [128, 16, 2],
    [128, 8, 1],
  ])(
    'decodes 40 sequences, headDim %i, %i query heads on %i kv heads',
    async (headDim, qHeads, kvHeads) => {
      const seqLens = lengths(40, headDim + qHeads, 300);
      const shape = { qHeads, kvHeads, headDim, pageSize: 16 };
      await expectAttention(
        dtype,
        { ...shape, qLens: seqLens.map(() => 1), seqLens },
        headDim + kvHeads,
      );
    },
  );

  it('decodes one long sequence with its keys split over blocks, odd page size', async () => {
    const shape = { qHeads: 8, kvHeads: 2, headDim: 64, pageSize: 7 };
    await expectAttention(dtype, { ...shape, qLens: [1], seqLens: [5000] }, 61);
  });

  it('takes up to 4 new tokens per sequence in one decode batch (16 rows of a group of 4)', async () => {
    const seqLens = lengths(40, 9, 300).map((n) => n + 4);
    const qLens = seqLens.map((_, s) => 1 + (s % 4));
    const shape = { qHeads: 8, kvHeads: 2, headDim: 64, pageSize: 16 };
    await expectAttention(dtype, { ...shape, qLens, seqLens }, 62);
  });
});
