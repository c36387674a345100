import { expect, it } from 'vitest';
import { nativeOf } from './memory-saver.js';
import { loadAddon } from './native-binding.js';
import { describeKernels, Workspace } from './ops.test-helpers.js';
import type { DType } from './ops-types.js';

describeKernels('kernel argument errors', () => {
  it('rejects bad dtypes, sizes, addresses and shapes with clear messages', async () => {
    const w = new Workspace();
    const a = await w.allocate(4096);
    expect(() => w.ops.add(a, a, a, 4, 'int8' as DType)).toThrow(
      /dtype must be 'float32', 'bfloat16' or 'float16'/,
    );
    expect(() => w.ops.add(a, a, a, 0, 'float32')).toThrow('add: n must be positive, got 0');
    const gemm = { out: a, a, w: a, m: 1, n: 1, k: 1, dtype: 'float32' } as const;
    expect(() => w.ops.gemm({ ...gemm, a: 0 })).toThrow('gemm: a must be a device address, got 0');
    expect(() => w.ops.gemm({ ...gemm, n: -2 })).toThrow('gemm: n must be positive, got -2');
    expect(() => w.ops.add(2 ** 53, a, a, 1, 'float32')).toThrow(/add: out must be an address/);
    const norm = { out: a, x: a, weight: a, rows: 1, dim: 4, eps: 1e-5, dtype: 'float32' } as const;
    expect(() => w.ops.rmsNorm({ ...norm, rows: 1.5 })).toThrow(/rows must be a 32-bit integer/);
    expect(() => w.ops.rmsNorm({ ...norm, eps: Number.NaN })).toThrow(/eps must be finite/);
    const b = await w.allocate(4096);
    const addNorm = { ...norm, residual: a, delta: b, weight: b };
    expect(() => w.ops.addRmsNorm(addNorm)).toThrow(/^addRmsNorm: out must differ from residual/);
    expect(() => w.ops.addRmsNorm({ ...addNorm, residual: b, delta: a })).toThrow(
      'addRmsNorm: out must differ from delta',
    );
    const rotary = {
      q: a,
      k: a,
      positions: a,
      tokens: 1,
      qHeads: 2,
      kvHeads: 2,
      headDim: 8,
      rotaryDim: 8,
      qStride: 16,
      kStride: 16,
      invFreq: a,
      layout: 'adjacent',
      dtype: 'float32',
    } as const;
    expect(() => w.ops.rotary({ ...rotary, rotaryDim: 9 })).toThrow(
      /rotaryDim must be even and at most headDim/,
    );
    expect(() => w.ops.rotary({ ...rotary, layout: 'diagonal' as never })).toThrow(
      /layout must be 'half-split' or 'adjacent'/,
    );
    const storeKv = {
      kCache: a,
      vCache: a,
      k: a,
      v: a,
      slots: a,
      tokens: 1,
      kvHeads: 2,
      pageSize: 4,
    } as const;
    expect(() =>
      w.ops.storeKv({ ...storeKv, headDim: 8, kStride: 15, vStride: 16, dtype: 'float32' }),
    ).toThrow('storeKv: kStride must be at least 16, got 15');
    const store = { ...storeKv, headDim: 8, kStride: 16, vStride: 16, dtype: 'float32' } as const;
    expect(() => w.ops.storeKv({ ...store, pageSize: 0 })).toThrow(
      'storeKv: pageSize must be positive, got 0',
    );
    expect(() => w.ops.rotaryStoreKv({ rotary: { ...rotary, rotaryDim: 9 }, store })).toThrow(
      /^rotaryStoreKv \(rotary\): rotaryDim must be even/,
    );
    expect(() => w.ops.rotaryStoreKv({ rotary, store: { ...store, vStride: 15 } })).toThrow(
      'rotaryStoreKv (store): vStride must be at least 16, got 15',
    );
    expect(() => w.ops.rotaryStoreKv({ rotary, store: { ...store, slots: 1.5 } })).toThrow(
      /rotaryStoreKv: slots must be an address/,
    );
  });

  it('rejects attention shapes and batch metadata that do not fit', async () => {
    const w = new Workspace();
    const a = await w.allocate(4096);
    const batch = {
      numSeqs: 1,
      queryStart: await w.upload(Int32Array.of(0, 2)),
      seqLens: await w.upload(Int32Array.of(1)),
      pageTable: await w.upload(Int32Array.of(0)),
      pageTableStride: 1,
      pageSize: 4,
    };
    // Metadata lives on the device: CUDA finds it bad in a kernel and throws at the next wait.
    const attend = (tokens: number, qHeads: number) => {
      w.ops.attention({
        out: a,
        q: a,
        kCache: a,
        vCache: a,
        batch,
        tokens,
        qHeads,
        kvHeads: 2,
        headDim: 4,
        qStride: 16,
        scale: 0.5,
        dtype: 'float32',
      });
      w.ops.synchronize();
    };
    expect(() => attend(2, 3)).toThrow('attention: qHeads (3) must be a multiple of kvHeads (2)');
    expect(() => attend(3, 4)).toThrow(
      'attention: queryStart[numSeqs] must equal tokens (3), got 2',
    );
    expect(() => attend(2, 4)).toThrow(/sequence 0 has more query tokens \(2\) than seqLen/);
    const twoPages = {
      ...batch,
      seqLens: await w.upload(Int32Array.of(6)),
      pageTable: await w.upload(Int32Array.of(0, -1, 5, -1)),
      pageTableStride: 4,
    };
    expect(() => {
      w.ops.attention({
        out: a,
        q: a,
        kCache: a,
        vCache: a,
        batch: twoPages,
        tokens: 2,
        qHeads: 4,
        kvHeads: 2,
        headDim: 4,
        qStride: 16,
        scale: 0.5,
        dtype: 'float32',
      });
      w.ops.synchronize();
    }).toThrow('attention: sequence 0 has a negative page index at 1');
    w.ops.synchronize(); // reported once
  });

  it('rejects negative token ids, naming the first', async () => {
    const w = new Workspace();
    const table = await w.allocate(4096);
    const out = await w.allocate(4096);
    const ids = await w.upload(Int32Array.of(2, -3, 1, -1));
    expect(() => {
      w.ops.embedding({ out, table, ids, tokens: 4, dim: 8, dtype: 'float32' });
      w.ops.synchronize();
    }).toThrow('embedding: ids[1] is negative (-3)');
    w.ops.synchronize();
  });

  it('rejects tokenLogprobs ids outside the vocabulary, naming the first', async () => {
    const w = new Workspace();
    const rows = 4;
    const vocab = 256;
    const logits = await w.upload(new Float32Array(rows * vocab));
    const temperature = await w.upload(new Float32Array(rows));
    const out = await w.allocate(rows * 4);
    // On the CPU the call throws; on CUDA the kernel records it and the next wait throws.
    const logprobs = async (ids: Int32Array) => {
      const address = await w.upload(ids);
      return () => {
        w.ops.tokenLogprobs({
          out,
          logits,
          ids: address,
          temperature,
          rows,
          vocab,
          dtype: 'float32',
        });
        w.ops.synchronize();
      };
    };
    expect(await logprobs(Int32Array.of(5, 300, 1, -1))).toThrow(
      'tokenLogprobs: id 300 of row 1 is outside the vocabulary of 256',
    );
    expect(await logprobs(Int32Array.of(0, 255, -2, 256))).toThrow(
      'tokenLogprobs: id -2 of row 2 is outside the vocabulary of 256',
    );
    expect(await logprobs(Int32Array.of(0, 1, 2, 256))).toThrow(
      'tokenLogprobs: id 256 of row 3 is outside the vocabulary of 256',
    );
    w.ops.synchronize(); // reported once
    (await logprobs(Int32Array.of(0, 1, 2, 255)))();
    for (const logprob of w.ops.downloadFloat32(out, rows))
      expect(logprob).toBeCloseTo(-Math.log(vocab), 5);
    expect(() =>
      w.ops.tokenLogprobs({
        out,
        logits: 0,
        ids: out,
        temperature,
        rows: 1,
        vocab,
        dtype: 'float32',
      }),
    ).toThrow('tokenLogprobs: logits must be a device address, got 0');
    expect(() =>
      w.ops.tokenLogprobs({
        out,
        logits,
        ids: out,
        temperature,
        rows: 1,
        vocab: 0,
        dtype: 'float32',
      }),
    ).toThrow('tokenLogprobs: vocab must be positive, got 0');
  });

  it('rejects addLogitBias pairs outside the logits, naming the first, and applies none', async () => {
    const w = new Workspace();
    const numRows = 3;
    const vocab = 256;
    const initial = Float32Array.from({ length: numRows * vocab }, (_, i) => i / 8);
    const logits = await w.upload(initial);
    const values = await w.upload(Float32Array.of(1, 2, 3, 4));
    // On the CPU the call throws; on CUDA the kernel records it and the next wait throws.
    const bias = async (rows: number[], ids: number[]) => {
      const rowsAt = await w.upload(Int32Array.from(rows));
      const idsAt = await w.upload(Int32Array.from(ids));
      return () => {
        w.ops.addLogitBias({
          logits,
          rows: rowsAt,
          ids: idsAt,
          values,
          count: rows.length,
          numRows,
          vocab,
          dtype: 'float32',
        });
        w.ops.synchronize();
      };
    };
    expect(await bias([0, 3, 1, 0], [5, 1, 2, 3])).toThrow(
      'addLogitBias: pair 1 (row 3, id 1) is outside the logits of 3 rows x 256 ids',
    );
    expect(await bias([0, 1, 2, -1], [5, 256, 2, 3])).toThrow(
      'addLogitBias: pair 1 (row 1, id 256) is outside the logits of 3 rows x 256 ids',
    );
    expect(await bias([2, 2, 2, 2], [0, 255, -7, 1000])).toThrow(
      'addLogitBias: pair 2 (row 2, id -7) is outside the logits of 3 rows x 256 ids',
    );
    expect(await bias([0, 1, 2, -1], [0, 1, 2, 3])).toThrow(
      'addLogitBias: pair 3 (row -1, id 3) is outside the logits of 3 rows x 256 ids',
    );
    w.ops.synchronize(); // reported once
    // No pair of a bad call was applied, not even those before the bad one.
    expect(Array.from(w.ops.downloadFloat32(logits, numRows * vocab))).toEqual(Array.from(initial));
    (await bias([0, 2], [255, 0]))();
    const after = w.ops.downloadFloat32(logits, numRows * vocab);
    expect([after[255], after[2 * vocab]]).toEqual([255 / 8 + 1, (2 * vocab) / 8 + 2]);
    expect(() =>
      w.ops.addLogitBias({
        logits: 0,
        rows: values,
        ids: values,
        values,
        count: 1,
        numRows,
        vocab,
        dtype: 'float32',
      }),
    ).toThrow('addLogitBias: logits must be a device address, got 0');
    expect(() =>
      w.ops.addLogitBias({
        logits,
        rows: values,
        ids: values,
        values,
        count: -1,
        numRows,
        vocab,
        dtype: 'float32',
      }),
    ).toThrow('addLogitBias: count must be at least 0, got -1');
    expect(() =>
      w.ops.addLogitBias({
        logits,
        rows: values,
        ids: values,
        values,
        count: 1,
        numRows: 0,
        vocab,
        dtype: 'float32',
      }),
    ).toThrow('addLogitBias: numRows must be positive, got 0');
    expect(() =>
      w.ops.addLogitBias({
        logits,
        rows: values,
        ids: values,
        values,
        count: 1,
        numRows,
        vocab: 0,
        dtype: 'float32',
      }),
    ).toThrow('addLogitBias: vocab must be positive, got 0');
    expect(() =>
      w.ops.addLogitBias({
        logits,
        rows: 0,
        ids: 0,
        values: 0,
        count: 0,
        numRows,
        vocab: 0,
        dtype: 'float32',
      }),
    ).toThrow('addLogitBias: vocab must be positive, got 0');
  });

  it('rejects topLogprobs k outside [1, min(64, vocab)]', async () => {
    const w = new Workspace();
    const vocab = 256;
    const logits = await w.upload(new Float32Array(vocab));
    const temperature = await w.upload(new Float32Array(1));
    const ids = await w.allocate(64 * 4);
    const logprobs = await w.allocate(64 * 4);
    const top =
      (k: number, n = vocab) =>
      () =>
        w.ops.topLogprobs({
          outIds: ids,
          outLogprobs: logprobs,
          logits,
          temperature,
          rows: 1,
          vocab: n,
          k,
          dtype: 'float32',
        });
    expect(top(0)).toThrow('topLogprobs: k must be in [1, min(64, vocab)] = [1, 64], got 0');
    expect(top(-1)).toThrow('topLogprobs: k must be in [1, min(64, vocab)] = [1, 64], got -1');
    expect(top(65)).toThrow('topLogprobs: k must be in [1, min(64, vocab)] = [1, 64], got 65');
    expect(top(11, 10)).toThrow('topLogprobs: k must be in [1, min(64, vocab)] = [1, 10], got 11');
    expect(top(1, 0)).toThrow('topLogprobs: vocab must be positive, got 0');
    expect(() =>
      w.ops.topLogprobs({
        outIds: ids,
        outLogprobs: 0,
        logits,
        temperature,
        rows: 1,
        vocab,
        k: 1,
        dtype: 'float32',
      }),
    ).toThrow('topLogprobs: outLogprobs must be a device address, got 0');
    expect(() =>
      w.ops.topLogprobs({
        outIds: ids,
        outLogprobs: logprobs,
        logits,
        temperature,
        rows: 1,
        vocab,
        k: 1.5,
        dtype: 'float32',
      }),
    ).toThrow('topLogprobs: k must be a 32-bit integer, got 1.5');
    // The largest k of each vocabulary runs.
    top(64)();
    top(10, 10)();
    w.ops.synchronize();
    expect(Array.from(w.ops.downloadInt32(ids, 10))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    for (const logprob of w.ops.downloadFloat32(logprobs, 10))
      expect(logprob).toBeCloseTo(-Math.log(10), 5);
  });

  it('checks the native arguments themselves', async () => {
    const { NativeOps } = loadAddon();
    expect(() => new NativeOps({} as never)).toThrow('expected a NativeMemorySaver');
    const w = new Workspace();
    const a = await w.allocate(4096);
    const native = new NativeOps(nativeOf(w.saver));
    expect(() => native.add(a, a, a, 4, 7)).toThrow(
      'add: dtype must be 0 (float32), 1 (bfloat16) or 2 (float16), got 7',
    );
    const bias = {
      logits: a,
      rows: a,
      ids: a,
      values: a,
      count: 1,
      numRows: 1,
      vocab: 1,
      dtype: 0,
    };
    expect(() => native.addLogitBias({ ...bias, dtype: 3 })).toThrow(
      'addLogitBias: dtype must be 0 (float32), 1 (bfloat16) or 2 (float16), got 3',
    );
    expect(() => native.addLogitBias({ ...bias, count: 0.5 })).toThrow(
      'addLogitBias: count must be a 32-bit integer, got 0.5',
    );
    expect(() => (native.add as (...args: number[]) => void)(a, a, a)).toThrow(
      'add expects 5 arguments, got 3',
    );
    expect(() => native.upload(a, [1, 2] as never)).toThrow('upload: bytes must be a Uint8Array');
    // A kernel with an argument struct takes one object, read field by field in struct order.
    expect(() => native.gemm(7 as never)).toThrow('gemm expects an object of arguments');
    const gemm = { out: a, a, w: a, bias: 0, m: 1, n: 1, k: 1, dtype: 0, batchInvariant: false };
    expect(() => native.gemm({ ...gemm, w: undefined } as never)).toThrow(
      'gemm: w must be a number',
    );
    expect(() => native.gemm({ ...gemm, m: 0.5, n: -1 })).toThrow(
      'gemm: m must be a 32-bit integer, got 0.5',
    );
    expect(() => native.gemm({ ...gemm, dtype: 5 })).toThrow(
      'gemm: dtype must be 0 (float32), 1 (bfloat16) or 2 (float16), got 5',
    );
    expect(() => native.gemm({ ...gemm, batchInvariant: 1 as never })).toThrow(
      'gemm: batchInvariant must be a boolean',
    );
    // A nested struct (the attention batch) is an object of its own, its fields named alone.
    const batch = { numSeqs: 1, queryStart: a, seqLens: a, pageTable: a, pageTableStride: 1 };
    const attention = { out: a, q: a, kCache: a, vCache: a, tokens: 1, qHeads: 1, kvHeads: 1 };
    const shape = { headDim: 4, qStride: 4, scale: 1, dtype: 0, batchInvariant: false };
    expect(() => native.attention({ ...attention, ...shape, batch: 1 } as never)).toThrow(
      'attention: batch must be an object',
    );
    const partial = { ...batch, pageSize: 4 } as never;
    expect(() => native.attention({ ...attention, ...shape, batch: partial })).toThrow(
      'attention: reusePlan must be a boolean',
    );
  });
});
