import { expect, it } from 'vitest';
import { encodeBfloat16, encodeFloat16 } from './half-precision.js';
import {
  DTYPES,
  describeKernels,
  expectClose,
  randomTensor,
  roundTo,
  seeded,
  Workspace,
} from './ops.test-helpers.js';
import { rmsNormReference, siluAndMulReference } from './ops-reference.test-helpers.js';
import type { DType } from './ops-types.js';

describeKernels.each(DTYPES)('row and element kernels in %s', (dtype: DType) => {
  it('embedding gathers rows of the table', async () => {
    const w = new Workspace();
    const random = seeded(1);
    const vocab = 11;
    const dim = 37;
    const table = randomTensor(random, vocab * dim, dtype);
    const ids = new Int32Array([3, 0, 10, 3, 7]);
    const out = await w.allocate(ids.length * dim * 4);
    w.ops.embedding({
      out,
      table: await w.tensor(table, dtype),
      ids: await w.upload(ids),
      tokens: ids.length,
      dim,
      dtype,
    });
    const expected = Array.from(ids).flatMap((id) =>
      Array.from(table.subarray(id * dim, (id + 1) * dim)),
    );
    expect(Array.from(w.read(out, ids.length * dim, dtype))).toEqual(expected);
  });

  it('embedding of a vocabulary shard gives its rows, and zeros for ids outside it', async () => {
    const w = new Workspace();
    const dim = 5;
    const [vocabStart, vocabRows] = [4, 3];
    const table = randomTensor(seeded(2), vocabRows * dim, dtype);
    const ids = new Int32Array([3, 4, 6, 7, 0, 5]);
    const out = await w.allocate(ids.length * dim * 4);
    const args = {
      out,
      table: await w.tensor(table, dtype),
      ids: await w.upload(ids),
      tokens: ids.length,
      dim,
      dtype,
      vocabShard: { vocabStart, vocabRows },
    };
    if (w.saver.device !== 'cpu') {
      expect(() => w.ops.embedding(args)).toThrow(/CPU backend only/);
      return;
    }
    w.ops.embedding(args);
    const expected = Array.from(ids).flatMap((id) => {
      const row = id - vocabStart;
      if (row < 0 || row >= vocabRows) return new Array<number>(dim).fill(0);
      return Array.from(table.subarray(row * dim, (row + 1) * dim));
    });
    expect(Array.from(w.read(out, ids.length * dim, dtype))).toEqual(expected);
  });

  it('rmsNorm normalizes each row, also in place', async () => {
    const w = new Workspace();
    const random = seeded(2);
    const rows = 5;
    const dim = 67;
    const x = randomTensor(random, rows * dim, dtype, 3);
    const weight = randomTensor(random, dim, dtype);
    const expected = rmsNormReference(x, weight, rows, 1e-5);
    const xAddress = await w.tensor(x, dtype);
    const out = await w.allocate(rows * dim * 4);
    const weightAddress = await w.tensor(weight, dtype);
    w.ops.rmsNorm({ out, x: xAddress, weight: weightAddress, rows, dim, eps: 1e-5, dtype });
    expectClose(w.read(out, rows * dim, dtype), expected, dtype);
    const inPlace = { out: xAddress, x: xAddress, weight: weightAddress, rows, dim, eps: 1e-5 };
    w.ops.rmsNorm({ ...inPlace, dtype });
    expectClose(w.read(xAddress, rows * dim, dtype), expected, dtype);
  });

  it('rmsNorm normalizes rows in strided groups in place, and leaves the gaps alone', async () => {
    const w = new Workspace();
    const random = seeded(12);
    // 3 tokens, each a row of 50: heads 0-3 (dim 8) at the start, then 18 other values
    const [tokens, heads, dim, stride] = [3, 4, 8, 50];
    const x = randomTensor(random, tokens * stride, dtype, 3);
    const weight = randomTensor(random, dim, dtype);
    const xAddress = await w.tensor(x, dtype);
    w.ops.rmsNorm({
      out: xAddress,
      x: xAddress,
      weight: await w.tensor(weight, dtype),
      rows: tokens * heads,
      dim,
      rowsPerGroup: heads,
      groupStride: stride,
      eps: 1e-5,
      dtype,
    });
    const expected = Float32Array.from(x);
    for (let t = 0; t < tokens; t++) {
      const head = x.subarray(t * stride, t * stride + heads * dim);
      expected.set(rmsNormReference(head, weight, heads, 1e-5), t * stride);
    }
    expectClose(w.read(xAddress, tokens * stride, dtype), expected, dtype);
    expect(() =>
      w.ops.rmsNorm({
        out: xAddress,
        x: xAddress,
        weight: xAddress,
        rows: 4,
        dim,
        rowsPerGroup: 4,
        groupStride: 31,
        eps: 1e-5,
        dtype,
      }),
    ).toThrow(/groupStride must hold a group/);
  });

  // 2048: a model's width; 72: a multiple of 8 but not of 16 (the CPU's dot unrolls by 16);
  // 67: no multiple of 8 at all, so rows after the first are not 16-byte aligned either.
  for (const dim of [2048, 72, 67]) {
    it(`addRmsNorm gives add then rmsNorm exactly, dim ${dim}`, async () => {
      const w = new Workspace();
      const random = seeded(13 + dim);
      const rows = 5;
      const n = rows * dim;
      const x = randomTensor(random, n, dtype, 3);
      const delta = randomTensor(random, n, dtype, 2);
      const weight = await w.tensor(randomTensor(random, dim, dtype), dtype);
      const deltaAddress = await w.tensor(delta, dtype);
      // Two paths over the same inputs: the fused op, and add in place then rmsNorm.
      const fusedResidual = await w.tensor(x, dtype);
      const fusedOut = await w.tensor(randomTensor(random, n, dtype), dtype);
      const eps = 1e-5;
      w.ops.addRmsNorm({
        out: fusedOut,
        residual: fusedResidual,
        delta: deltaAddress,
        weight,
        rows,
        dim,
        eps,
        dtype,
      });
      const residual = await w.tensor(x, dtype);
      const out = await w.allocate(n * 4);
      w.ops.add(residual, residual, deltaAddress, n, dtype);
      w.ops.rmsNorm({ out, x: residual, weight, rows, dim, eps, dtype });
      expect(w.read(fusedResidual, n, dtype)).toEqual(w.read(residual, n, dtype));
      expect(w.read(fusedOut, n, dtype)).toEqual(w.read(out, n, dtype));
    });

    it(`addRmsNorm stores the rounded sum and normalizes it, dim ${dim}`, async () => {
      const w = new Workspace();
      const random = seeded(17 + dim);
      const rows = 3;
      const n = rows * dim;
      const x = randomTensor(random, n, dtype, 3);
      const delta = randomTensor(random, n, dtype, 2);
      const weight = randomTensor(random, dim, dtype);
      const sum = roundTo(
        x.map((value, i) => value + (delta[i] as number)),
        dtype,
      );
      const residual = await w.tensor(x, dtype);
      const out = await w.allocate(n * 4);
      w.ops.addRmsNorm({
        out,
        residual,
        delta: await w.tensor(delta, dtype),
        weight: await w.tensor(weight, dtype),
        rows,
        dim,
        eps: 1e-5,
        dtype,
      });
      expect(w.read(residual, n, dtype)).toEqual(sum);
      expectClose(w.read(out, n, dtype), rmsNormReference(sum, weight, rows, 1e-5), dtype);
    });
  }

  it('add sums elementwise, in place too', async () => {
    const w = new Workspace();
    const random = seeded(3);
    const n = 100_003;
    const a = randomTensor(random, n, dtype);
    const b = randomTensor(random, n, dtype);
    const expected = a.map((x, i) => x + (b[i] as number));
    const aAddress = await w.tensor(a, dtype);
    const out = await w.allocate(n * 4);
    w.ops.add(out, aAddress, await w.tensor(b, dtype), n, dtype);
    expectClose(w.read(out, n, dtype), expected, dtype);
    w.ops.add(aAddress, aAddress, await w.tensor(b, dtype), n, dtype);
    expectClose(w.read(aAddress, n, dtype), expected, dtype);
  });

  // 45 takes CUDA's element loop; 64 x 8192 its 16-byte vectors (a decode batch's MLP).
  it.each([
    [3, 45],
    [64, 8192],
  ])(
    'siluAndMul gates the up half with silu of the gate half, %i rows of %i',
    async (rows, inter) => {
      const w = new Workspace();
      const random = seeded(4);
      const gateUp = randomTensor(random, rows * 2 * inter, dtype, 4);
      const out = await w.allocate(rows * inter * 4);
      w.ops.siluAndMul({ out, gateUp: await w.tensor(gateUp, dtype), rows, inter, dtype });
      expectClose(
        w.read(out, rows * inter, dtype),
        siluAndMulReference(gateUp, rows, inter),
        dtype,
      );
    },
  );

  it('convert to every dtype rounds like the TypeScript encoders', async () => {
    const w = new Workspace();
    const random = seeded(5);
    const n = 4099;
    const values = randomTensor(random, n, dtype, 1000);
    const input = await w.tensor(values, dtype);
    for (const outType of DTYPES) {
      const out = await w.allocate(n * 4);
      w.ops.convert(out, outType, input, dtype, n);
      expect(Array.from(w.read(out, n, outType))).toEqual(Array.from(roundTo(values, outType)));
    }
  });
});

describeKernels('conversions', () => {
  it('float32 to bfloat16 and float16 match the TypeScript encoders bit for bit', async () => {
    const w = new Workspace();
    const special = [0, -0, 1, -1.5, 65504, 65519.99, 65520, 1e-8, -3e-7, 6.1e-5, 1e30, -1e-40];
    const random = seeded(6);
    const values = new Float32Array(4000 + special.length);
    values.set(special);
    for (let i = special.length; i < values.length; i++) {
      values[i] = (random() * 2 - 1) * 2 ** Math.floor(random() * 60 - 30);
    }
    values.set([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY], values.length - 3);
    const input = await w.tensor(values, 'float32');
    const out = await w.allocate(values.length * 2);
    const half = new Uint16Array(values.length);
    w.ops.convert(out, 'bfloat16', input, 'float32', values.length);
    w.ops.download(out, half);
    expect(Array.from(half)).toEqual(Array.from(encodeBfloat16(values)));
    w.ops.convert(out, 'float16', input, 'float32', values.length);
    w.ops.download(out, half);
    expect(Array.from(half)).toEqual(Array.from(encodeFloat16(values)));
  });
});
