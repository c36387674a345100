import { expect, it } from 'vitest';
import {
  DTYPES,
  describeKernels,
  expectClose,
  randomTensor,
  seeded,
  Workspace,
} from './ops.test-helpers.js';
import { type AttentionCase, attentionReference } from './ops-reference.test-helpers.js';
import type { DeviceAddress, DType } from './ops-types.js';

// Issue 17 (spec rule 14): batch-invariant attention gives a query row the same bits however it
// is computed: in one prefill, as a prefill after a cached prefix, as a decode step, alone or
// beside other sequences. One sequence's caches are fixed; each way reads them through its own
// batch. Its length crosses chunk boundaries (512 keys) so the keys merge in several chunks.
const LENGTH = 1100;
const PAGE = 16;

interface Way {
  /** The sequence's query positions computed, ascending and contiguous. */
  first: number;
  count: number;
  /** Other sequences in the batch: (query rows, length) each. */
  others: [number, number][];
}

describeKernels.each(
  DTYPES.flatMap((dtype) => [64, 20].map((headDim) => [dtype, headDim] as const)),
)('batch-invariant attention in %s, headDim %i', (dtype: DType, headDim: number) => {
  const qHeads = 8;
  const kvHeads = 2;
  const qStride = qHeads * headDim;
  // Page-table entries per sequence: the chunk count follows it (6 chunks of 512 keys); the
  // wide table makes 128, whose partials need the items launched in groups on CUDA.
  const stride = Math.ceil(3000 / PAGE);
  const wideStride = 4096;
  const pages = Math.ceil(LENGTH / PAGE) + 200;

  async function setup() {
    const w = new Workspace();
    const random = seeded(headDim * 7 + dtype.length);
    const cacheSize = pages * PAGE * kvHeads * headDim;
    const kCache = randomTensor(random, cacheSize, dtype, 2);
    const vCache = randomTensor(random, cacheSize, dtype);
    const q = randomTensor(random, 3000 * qStride, dtype, 2);
    return {
      w,
      q,
      kCache,
      vCache,
      kAddress: await w.tensor(kCache, dtype),
      vAddress: await w.tensor(vCache, dtype),
    };
  }

  /** The sequence's rows of `way` as output bits, [count, qHeads * headDim]. */
  async function run(
    s: Awaited<ReturnType<typeof setup>>,
    way: Way,
    tableStride = stride,
  ): Promise<Uint32Array> {
    const { w } = s;
    const seqLens = [way.first + way.count, ...way.others.map(([, len]) => len)];
    const qLens = [way.count, ...way.others.map(([rows]) => rows)];
    const table = new Int32Array(seqLens.length * tableStride).fill(-1);
    for (let p = 0; p < Math.ceil(LENGTH / PAGE); p++) table[p] = Math.ceil(LENGTH / PAGE) - 1 - p;
    way.others.forEach(([, len], o) => {
      // Other sequences read pages past the sequence's: any of them, the values do not matter.
      for (let p = 0; p < Math.ceil(len / PAGE); p++) table[(o + 1) * tableStride + p] = p % 200;
    });
    // The sequence's query row for position i is row i of q, wherever the batch puts it.
    const tokens = qLens.reduce((sum, n) => sum + n, 0);
    const q = new Float32Array(tokens * qStride);
    q.set(s.q.subarray(way.first * qStride, (way.first + way.count) * qStride));
    let total = 0;
    const queryStart = Int32Array.from([0, ...qLens.map((n) => (total += n))]);
    const out: DeviceAddress = await w.allocate(tokens * qStride * 4);
    const batch = {
      numSeqs: qLens.length,
      queryStart: await w.upload(queryStart),
      seqLens: await w.upload(Int32Array.from(seqLens)),
      pageTable: await w.upload(table),
      pageTableStride: tableStride,
      pageSize: PAGE,
    };
    w.ops.attention({
      out,
      q: await w.tensor(q, dtype),
      kCache: s.kAddress,
      vCache: s.vAddress,
      batch,
      tokens,
      qHeads,
      kvHeads,
      headDim,
      qStride,
      scale: 1 / Math.sqrt(headDim),
      dtype,
      batchInvariant: true,
    });
    return new Uint32Array(w.read(out, way.count * qStride, dtype).buffer);
  }

  it('prefill, a prefill after a cached prefix and decode steps agree bit for bit, in any batch', async () => {
    const s = await setup();
    const whole = await run(s, { first: 0, count: LENGTH, others: [] });
    const rowsOf = (first: number, count: number) =>
      whole.slice(first * qStride, (first + count) * qStride);
    const ways: Way[] = [
      { first: 700, count: 400, others: [] },
      { first: 1, count: 37, others: [[1, 900]] },
      { first: 1099, count: 1, others: [] },
      { first: 1099, count: 1, others: Array.from({ length: 40 }, (_, i) => [1, 30 + 50 * i]) },
      { first: 511, count: 2, others: [[5, 2000]] },
      { first: 512, count: 1, others: [[1, 7]] },
      { first: 1023, count: 3, others: [] },
    ];
    for (const way of ways) {
      const label = JSON.stringify(way);
      expect(await run(s, way), label).toEqual(rowsOf(way.first, way.count));
      expect(await run(s, way, wideStride), `${label}, wide table`).toEqual(
        rowsOf(way.first, way.count),
      );
    }
    expect(await run(s, { first: 0, count: LENGTH, others: [] }, wideStride)).toEqual(whole);
  });

  it('matches the reference', async () => {
    const s = await setup();
    const c: AttentionCase = {
      qHeads,
      kvHeads,
      headDim,
      pageSize: PAGE,
      qLens: [LENGTH],
      seqLens: [LENGTH],
      qStride,
      pageTableStride: stride,
      pageTable: Int32Array.from({ length: stride }, (_, p) =>
        p < Math.ceil(LENGTH / PAGE) ? Math.ceil(LENGTH / PAGE) - 1 - p : -1,
      ),
      scale: 1 / Math.sqrt(headDim),
    };
    const bits = await run(s, { first: 0, count: LENGTH, others: [] });
    const expected = attentionReference(c, s.q.subarray(0, LENGTH * qStride), s.kCache, s.vCache);
    expectClose(new Float32Array(bits.buffer), expected, dtype);
  });
});
