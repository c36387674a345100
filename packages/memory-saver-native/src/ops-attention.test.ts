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

const shapes = DTYPES.flatMap((dtype) => [16, 20].map((headDim) => [dtype, headDim] as const));

describeKernels.each(shapes)('attention in %s, headDim %i', (dtype: DType, headDim: number) => {
  it('matches the reference over a mixed batch: cached prefixes, decode rows, GQA, scattered pages', async () => {
    const w = new Workspace();
    const random = seeded(21 + headDim);
    // prefill after a cached prefix, decode, fresh prefill, decode of a first token, long prefill
    const qLens = [3, 1, 5, 1, 40];
    const seqLens = [7, 10, 5, 1, 70];
    const pageSize = 3;
    const pageTableStride = Math.ceil(70 / pageSize) + 1;
    const pages = 40;
    const c: AttentionCase = {
      qHeads: 4,
      kvHeads: 2,
      headDim,
      qStride: 4 * headDim + 8,
      pageSize,
      pageTableStride,
      qLens,
      seqLens,
      pageTable: scatteredPageTable(seqLens, pageSize, pageTableStride, pages),
      scale: 1 / Math.sqrt(headDim),
    };
    const tokens = qLens.reduce((sum, n) => sum + n, 0);
    const cacheSize = pages * pageSize * c.kvHeads * headDim;
    const q = randomTensor(random, tokens * c.qStride, dtype, 2);
    const kCache = randomTensor(random, cacheSize, dtype, 2);
    const vCache = randomTensor(random, cacheSize, dtype);
    const queryStart = Int32Array.from([
      0,
      ...qLens.map((_, s) => qLens.slice(0, s + 1).reduce((a, b) => a + b)),
    ]);
    const batch = {
      numSeqs: qLens.length,
      queryStart: await w.upload(queryStart),
      seqLens: await w.upload(Int32Array.from(seqLens)),
      pageTable: await w.upload(c.pageTable),
      pageTableStride,
      pageSize,
    };
    const outSize = tokens * c.qHeads * headDim;
    const out = await w.allocate(outSize * 4);
    const [qAddress, kAddress, vAddress] = [
      await w.tensor(q, dtype),
      await w.tensor(kCache, dtype),
      await w.tensor(vCache, dtype),
    ];
    w.ops.attention(
      out,
      qAddress,
      kAddress,
      vAddress,
      batch,
      tokens,
      c.qHeads,
      c.kvHeads,
      headDim,
      c.qStride,
      c.scale,
      dtype,
    );
    expectClose(w.read(out, outSize, dtype), attentionReference(c, q, kCache, vCache), dtype);
  });
});
