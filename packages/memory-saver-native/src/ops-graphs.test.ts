import { describe, expect, it } from 'vitest';
import { DEVICE } from './memory-saver.test-helpers.js';
import { expectClose, randomTensor, seeded, Workspace } from './ops.test-helpers.js';
import { type AttentionCase, attentionReference } from './ops-reference.test-helpers.js';

describe(`captured graphs on ${DEVICE}`, () => {
  it('records without running, then replays reading the inputs as they are at replay', async () => {
    const w = new Workspace();
    const n = 1000;
    const a = await w.tensor(new Float32Array(n).fill(1), 'float32');
    const b = await w.tensor(new Float32Array(n).fill(2), 'float32');
    const out = await w.tensor(new Float32Array(n), 'float32');
    expect(w.ops.canCapture).toBe(true);
    w.ops.beginCapture();
    w.ops.add(out, a, b, n, 'float32');
    w.ops.add(out, out, b, n, 'float32');
    const graph = w.ops.endCapture();
    expect(graph).toBeGreaterThanOrEqual(0);
    expect(w.read(out, n, 'float32').every((x) => x === 0)).toBe(true);
    expect(w.ops.replay(graph)).toBe(true);
    expect(w.read(out, n, 'float32').every((x) => x === 5)).toBe(true);
    w.ops.uploadTensor(a, new Float32Array(n).fill(10), 'float32');
    expect(w.ops.replay(graph)).toBe(true);
    expect(w.read(out, n, 'float32').every((x) => x === 14)).toBe(true);
  });

  it('refuses host copies and nested captures inside a capture, and closes cleanly after', async () => {
    const w = new Workspace();
    const x = await w.tensor(new Float32Array(8).fill(1), 'float32');
    expect(() => w.ops.endCapture()).toThrow(/no capture is open/);
    w.ops.beginCapture();
    expect(() => w.ops.beginCapture()).toThrow(/already open/);
    expect(() => w.ops.upload(x, new Float32Array(8))).toThrow(/during a capture/);
    expect(() => w.ops.synchronize()).toThrow(/during a capture/);
    w.ops.add(x, x, x, 8, 'float32');
    const graph = w.ops.endCapture();
    expect(graph).toBeGreaterThanOrEqual(0);
    expect(w.ops.replay(graph)).toBe(true);
    expect(Array.from(w.read(x, 8, 'float32'))).toEqual(new Array(8).fill(2));
  });

  it('drops every graph on a pause (ids are never reused) and on dropGraphs', async () => {
    const w = new Workspace();
    const tagged = await w.saver.allocate(64, { tag: 'kv_cache' });
    const x = await w.tensor(new Float32Array(4).fill(1), 'float32');
    const capture = () => {
      w.ops.beginCapture();
      w.ops.add(x, x, x, 4, 'float32');
      return w.ops.endCapture();
    };
    const first = capture();
    await w.saver.pause('kv_cache');
    expect(w.ops.replay(first)).toBe(false);
    await w.saver.resume('kv_cache');
    const second = capture();
    expect(second).not.toBe(first);
    expect(w.ops.replay(second)).toBe(true);
    w.ops.dropGraphs();
    expect(w.ops.replay(second)).toBe(false);
    await w.saver.free(tagged);
  });

  it('keeps graphs across a pause once the kernels have fixed scratch (useScratch); freeing it drops them', async () => {
    const w = new Workspace();
    const bytes = w.ops.scratchBytes(64, 2);
    if (DEVICE === 'cuda') expect(bytes).toBeGreaterThan(32 * 2 ** 20);
    else expect(bytes).toBe(0);
    expect(() => w.ops.scratchBytes(0, 2)).toThrow(/maxTokens must be positive/);
    const scratch = await w.saver.allocate(Math.max(bytes, 4096), { tag: 'cuda_graph' });
    w.ops.useScratch(Number(scratch.address), bytes);
    const x = await w.tensor(new Float32Array(4).fill(1), 'float32');
    w.ops.beginCapture();
    w.ops.add(x, x, x, 4, 'float32');
    const graph = w.ops.endCapture();
    await w.saver.pause('cuda_graph');
    await w.saver.resume('cuda_graph');
    expect(w.ops.replay(graph)).toBe(true);
    expect(Array.from(w.read(x, 4, 'float32'))).toEqual([2, 2, 2, 2]);
    await w.saver.free(scratch);
    expect(w.ops.replay(graph)).toBe(false);
  });

  it.runIf(DEVICE === 'cuda')(
    'refuses to run what needs fixed scratch while it is released',
    async () => {
      const w = new Workspace();
      const bytes = w.ops.scratchBytes(16, 1);
      const scratch = await w.saver.allocate(bytes, { tag: 'cuda_graph' });
      w.ops.useScratch(Number(scratch.address), bytes);
      const a = await w.tensor(new Float32Array(16).fill(1), 'float32');
      const out = await w.tensor(new Float32Array(16), 'float32');
      const gemm = () => w.ops.gemm({ out, a, w: a, m: 4, n: 4, k: 4, dtype: 'float32' });
      gemm();
      w.ops.beginCapture();
      gemm();
      const graph = w.ops.endCapture();
      await w.saver.pause('cuda_graph');
      expect(gemm).toThrow(/scratch \(useScratch\) is released with its tag: resume it first/);
      expect(() => w.ops.replay(graph)).toThrow(/released with its tag/);
      await w.saver.resume('cuda_graph');
      expect(w.ops.replay(graph)).toBe(true);
      expect(Array.from(w.read(out, 16, 'float32'))).toEqual(new Array(16).fill(4));
      await w.saver.free(scratch);
    },
  );

  it.runIf(DEVICE === 'cuda')('refuses fixed scratch smaller than the GEMM workspace', async () => {
    const w = new Workspace();
    const scratch = await w.saver.allocate(4096, { tag: 'cuda_graph' });
    expect(() => w.ops.useScratch(Number(scratch.address), 4096)).toThrow(
      /less than the GEMM workspace/,
    );
    await w.saver.free(scratch);
  });

  it('replays decode attention with new lengths; on CUDA it is dropped when the scratch grows', async () => {
    const w = new Workspace();
    const random = seeded(5);
    const [qHeads, kvHeads, headDim, pageSize, stride, pages] = [4, 2, 64, 4, 8, 16];
    const pageTable = Int32Array.from({ length: 2 * stride }, (_, i) => (i * 5) % pages);
    const c = (seqLens: number[]): AttentionCase => ({
      qHeads,
      kvHeads,
      headDim,
      qStride: qHeads * headDim,
      pageSize,
      pageTableStride: stride,
      qLens: [1, 1],
      seqLens,
      pageTable,
      scale: 0.125,
    });
    const cacheSize = pages * pageSize * kvHeads * headDim;
    const q = randomTensor(random, 2 * qHeads * headDim, 'float32');
    const kCache = randomTensor(random, cacheSize, 'float32');
    const vCache = randomTensor(random, cacheSize, 'float32');
    const seqLens = await w.upload(Int32Array.from([3, 9]));
    const batch = {
      numSeqs: 2,
      queryStart: await w.upload(Int32Array.from([0, 1, 2])),
      seqLens,
      pageTable: await w.upload(pageTable),
      pageTableStride: stride,
      pageSize,
    };
    const out = await w.allocate(q.length * 4);
    const [qa, ka, va] = [
      await w.tensor(q, 'float32'),
      await w.tensor(kCache, 'float32'),
      await w.tensor(vCache, 'float32'),
    ];
    const attend = (tokens: number) =>
      w.ops.attention({
        out,
        q: qa,
        kCache: ka,
        vCache: va,
        batch,
        tokens,
        qHeads,
        kvHeads,
        headDim,
        qStride: qHeads * headDim,
        scale: 0.125,
        dtype: 'float32',
      });
    attend(2);
    w.ops.beginCapture();
    attend(2);
    const graph = w.ops.endCapture();
    w.ops.upload(seqLens, Int32Array.from([17, 30]));
    expect(w.ops.replay(graph)).toBe(true);
    const read = w.read(out, q.length, 'float32');
    expectClose(read, attentionReference(c([17, 30]), q, kCache, vCache), 'float32');
    if (DEVICE !== 'cuda') return;
    // 32 sequences of 32 query heads per kv head split their keys: far more scratch than the
    // captured pass needed, so the scratch moves and the graph must go.
    const many = 32;
    const wide = {
      numSeqs: many,
      queryStart: await w.upload(Int32Array.from({ length: many + 1 }, (_, i) => i)),
      seqLens: await w.upload(new Int32Array(many).fill(1)),
      pageTable: await w.upload(new Int32Array(many)),
      pageTableStride: 1,
      pageSize,
    };
    const rows = many * 64 * headDim;
    const [wideQ, wideOut] = [await w.allocate(rows * 4), await w.allocate(rows * 4)];
    w.ops.attention({
      out: wideOut,
      q: wideQ,
      kCache: ka,
      vCache: va,
      batch: wide,
      tokens: many,
      qHeads: 64,
      kvHeads,
      headDim,
      qStride: 64 * headDim,
      scale: 0.125,
      dtype: 'float32',
    });
    w.ops.synchronize();
    expect(w.ops.replay(graph)).toBe(false);
  });
});
