import { expect, it } from 'vitest';
import {
  DTYPES,
  describeKernels,
  randomTensor,
  roundTo,
  seeded,
  Workspace,
} from './ops.test-helpers.js';
import type { DeviceAddress, DType } from './ops-types.js';

/** A logit bias: values[i] added to logits[rows[i], ids[i]], in pair order. */
interface Bias {
  rows: number[];
  ids: number[];
  values: number[];
}

/**
 * What the kernel must give, bit for bit: each pair's add taken in float32 (the double sum of
 * two float32 values rounded once to float32 is the float32 sum) and stored in `dtype`.
 */
function logitBiasReference(
  logits: Float32Array,
  vocab: number,
  bias: Bias,
  dtype: DType,
): Float32Array {
  const out = Float32Array.from(logits);
  bias.rows.forEach((row, i) => {
    const at = row * vocab + (bias.ids[i] as number);
    const sum = Math.fround((out[at] as number) + Math.fround(bias.values[i] as number));
    out[at] = roundTo(Float32Array.of(sum), dtype)[0] as number;
  });
  return out;
}

/** Uploads the pairs; their addresses (0 for an empty bias: nothing is read). */
async function uploadBias(
  w: Workspace,
  bias: Bias,
): Promise<{ rows: DeviceAddress; ids: DeviceAddress; values: DeviceAddress }> {
  if (bias.rows.length === 0) return { rows: 0, ids: 0, values: 0 };
  return {
    rows: await w.upload(Int32Array.from(bias.rows)),
    ids: await w.upload(Int32Array.from(bias.ids)),
    values: await w.upload(Float32Array.from(bias.values)),
  };
}

/** The kernel's logits [numRows, vocab] (held in `dtype`) after the bias. */
async function addLogitBias(
  w: Workspace,
  logits: Float32Array,
  vocab: number,
  bias: Bias,
  dtype: DType,
): Promise<Float32Array> {
  const numRows = logits.length / vocab;
  const at = await w.tensor(logits, dtype);
  const pairs = await uploadBias(w, bias);
  w.ops.addLogitBias({
    logits: at,
    rows: pairs.rows,
    ids: pairs.ids,
    values: pairs.values,
    count: bias.rows.length,
    numRows,
    vocab,
    dtype,
  });
  return w.read(at, logits.length, dtype);
}

/** Every element the same bits (NaN aside, -0 apart from +0). */
function expectBits(actual: Float32Array, expected: Float32Array): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    if (!Object.is(actual[i], expected[i]))
      expect.fail(`element ${i}: got ${actual[i]}, expected ${expected[i]}`);
  }
}

/** count pairs at random elements of [numRows, vocab], values in [-scale, scale). */
function randomBias(
  random: () => number,
  count: number,
  numRows: number,
  vocab: number,
  scale: number,
): Bias {
  const bias: Bias = { rows: [], ids: [], values: [] };
  for (let i = 0; i < count; i++) {
    bias.rows.push(Math.floor(random() * numRows));
    bias.ids.push(Math.floor(random() * vocab));
    bias.values.push(Math.fround((random() * 2 - 1) * scale));
  }
  return bias;
}

/** The spacing of `dtype` just above 1. */
const ULP_AT_ONE: Record<DType, number> = {
  float32: 2 ** -23,
  bfloat16: 2 ** -7,
  float16: 2 ** -10,
};

describeKernels.each(DTYPES)('addLogitBias in %s', (dtype: DType) => {
  it.each([256, 4099, 32_000])(
    'adds each value to exactly its element, rounded to the dtype (vocab %i)',
    async (vocab) => {
      const w = new Workspace();
      const random = seeded(vocab);
      const numRows = 5;
      const logits = randomTensor(random, numRows * vocab, dtype, 8);
      // Values of every size: most land between two values of the dtype and must round.
      const bias = randomBias(random, 200, numRows, vocab, 6);
      bias.values.push(0.013, -1e-3, 100, -0);
      bias.rows.push(0, 1, numRows - 1, 2);
      bias.ids.push(0, vocab - 1, vocab - 1, 7);
      const got = await addLogitBias(w, logits, vocab, bias, dtype);
      const want = logitBiasReference(logits, vocab, bias, dtype);
      expectBits(got, want);
      // The named elements moved (a value too small to move one aside), no other did.
      const named = new Set(bias.rows.map((row, i) => row * vocab + (bias.ids[i] as number)));
      let moved = 0;
      for (let i = 0; i < logits.length; i++) {
        if (!named.has(i)) expect(got[i]).toBe(logits[i]);
        else if (got[i] !== logits[i]) moved++;
      }
      expect(moved).toBeGreaterThan(named.size * 0.9);
    },
  );

  it('adds every value of a pair named more than once, in pair order, rounding after each', async () => {
    const w = new Workspace();
    const vocab = 64;
    const logits = new Float32Array(2 * vocab).fill(1);
    const quarter = ULP_AT_ONE[dtype] / 4;
    const bias: Bias = {
      // (0, 3) three times with a value of a quarter ulp: each add rounds back to 1, though
      // the three together would reach the next value. (1, 5): 0.5 + 0.25 - 2 = -0.25 more.
      rows: [0, 1, 0, 1, 0, 1],
      ids: [3, 5, 3, 5, 3, 5],
      values: [quarter, 0.5, quarter, 0.25, quarter, -2],
    };
    const got = await addLogitBias(w, logits, vocab, bias, dtype);
    expectBits(got, logitBiasReference(logits, vocab, bias, dtype));
    expect(got[3]).toBe(1);
    expect(got[vocab + 5]).toBe(-0.25);
    expect(Math.fround(1 + 3 * quarter)).toBeGreaterThan(1);
  });

  it('applies more pairs than a CUDA block has threads, many of them repeated', async () => {
    const w = new Workspace();
    const vocab = 4099;
    const numRows = 8;
    const random = seeded(41);
    const logits = randomTensor(random, numRows * vocab, dtype, 4);
    const bias = randomBias(random, 3000, numRows, vocab, 2);
    // Half the pairs name one of 40 elements, so most of those are repeats.
    for (let i = 0; i < bias.rows.length; i += 2) {
      bias.rows[i] = i % 8;
      bias.ids[i] = (i * 7) % 5;
    }
    const got = await addLogitBias(w, logits, vocab, bias, dtype);
    expectBits(got, logitBiasReference(logits, vocab, bias, dtype));
  });

  it('bans a token with -Infinity, which later values leave banned', async () => {
    const w = new Workspace();
    const vocab = 300;
    const logits = randomTensor(seeded(42), 3 * vocab, dtype, 5);
    const bias: Bias = {
      rows: [0, 2, 2, 1],
      ids: [17, 299, 299, 0],
      values: [Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY, 50, 1],
    };
    const got = await addLogitBias(w, logits, vocab, bias, dtype);
    expectBits(got, logitBiasReference(logits, vocab, bias, dtype));
    expect(got[17]).toBe(Number.NEGATIVE_INFINITY);
    expect(got[2 * vocab + 299]).toBe(Number.NEGATIVE_INFINITY);
    expect(got[vocab]).toBe(roundTo(Float32Array.of((logits[vocab] as number) + 1), dtype)[0]);
  });

  it('changes nothing with count 0 (the addresses may then be 0)', async () => {
    const w = new Workspace();
    const vocab = 100;
    const logits = randomTensor(seeded(43), 2 * vocab, dtype, 3);
    const got = await addLogitBias(w, logits, vocab, { rows: [], ids: [], values: [] }, dtype);
    expectBits(got, logits);
  });

  it('steers sample and tokenLogprobs: a banned argmax is never picked and has logprob -Infinity', async () => {
    const w = new Workspace();
    const vocab = 1000;
    const rows = 3;
    const logits = randomTensor(seeded(44), rows * vocab, dtype, 5);
    const best = (values: Float32Array, r: number): number => {
      const row = values.subarray(r * vocab, (r + 1) * vocab);
      return row.indexOf(Math.max(...row));
    };
    const banned = [0, 1, 2].map((r) => best(logits, r));
    const at = await w.tensor(logits, dtype);
    const bias: Bias = {
      rows: [0, 1, 2],
      ids: banned,
      values: [Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY],
    };
    const pairs = await uploadBias(w, bias);
    w.ops.addLogitBias({
      logits: at,
      rows: pairs.rows,
      ids: pairs.ids,
      values: pairs.values,
      count: rows,
      numRows: rows,
      vocab,
      dtype,
    });
    const biased = w.read(at, rows * vocab, dtype);
    const temperature = await w.upload(new Float32Array(rows));
    const picked = await w.allocate(rows * 4);
    w.ops.sample({
      out: picked,
      logits: at,
      rows,
      vocab,
      temperature,
      topK: await w.upload(new Int32Array(rows)),
      topP: await w.upload(new Float32Array(rows).fill(1)),
      randomKeys: await w.upload(BigUint64Array.of(1n, 2n, 3n)),
      dtype,
    });
    const tokens = Array.from(w.ops.downloadInt32(picked, rows));
    expect(tokens).toEqual([0, 1, 2].map((r) => best(biased, r)));
    tokens.forEach((token, r) => {
      expect(token).not.toBe(banned[r]);
    });
    const logprobs = await w.allocate(rows * 4);
    w.ops.tokenLogprobs({
      out: logprobs,
      logits: at,
      ids: pairs.ids,
      temperature,
      rows,
      vocab,
      dtype,
    });
    for (const logprob of w.ops.downloadFloat32(logprobs, rows))
      expect(logprob).toBe(Number.NEGATIVE_INFINITY);
  });

  it('replays in a graph, reading the pairs as they are at replay', async () => {
    const w = new Workspace();
    const vocab = 500;
    const numRows = 4;
    const random = seeded(45);
    const logits = randomTensor(random, numRows * vocab, dtype, 3);
    const first = randomBias(random, 50, numRows, vocab, 2);
    const at = await w.tensor(logits, dtype);
    const pairs = await uploadBias(w, first);
    const call = () =>
      w.ops.addLogitBias({
        logits: at,
        rows: pairs.rows,
        ids: pairs.ids,
        values: pairs.values,
        count: 50,
        numRows,
        vocab,
        dtype,
      });
    call();
    const once = logitBiasReference(logits, vocab, first, dtype);
    expectBits(w.read(at, logits.length, dtype), once);
    w.ops.beginCapture();
    call();
    const graph = w.ops.endCapture();
    expectBits(w.read(at, logits.length, dtype), once); // recorded, not run
    const second = randomBias(random, 50, numRows, vocab, 2);
    w.ops.upload(pairs.rows, Int32Array.from(second.rows));
    w.ops.upload(pairs.ids, Int32Array.from(second.ids));
    w.ops.upload(pairs.values, Float32Array.from(second.values));
    expect(w.ops.replay(graph)).toBe(true);
    expectBits(w.read(at, logits.length, dtype), logitBiasReference(once, vocab, second, dtype));
  });
});
