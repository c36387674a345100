import { describe, expect, it } from 'vitest';
import {
  DTYPES,
  describeKernels,
  randomTensor,
  roundTo,
  seeded,
  Workspace,
} from './ops.test-helpers.js';
import { tokenLogprobsReference, topLogprobsReference } from './ops-reference.test-helpers.js';
import { type DeviceAddress, type DType, dtypeBytes } from './ops-types.js';

/** The kernel's logprobs for `ids` (one per row of logits [ids.length, vocab], held in `dtype`). */
async function tokenLogprobs(
  w: Workspace,
  logits: Float32Array,
  vocab: number,
  ids: number[],
  temperature: number[],
  dtype: DType,
): Promise<Float32Array> {
  const rows = ids.length;
  const out = await w.allocate(rows * 4);
  w.ops.tokenLogprobs({
    out,
    logits: await w.tensor(logits, dtype),
    ids: await w.upload(Int32Array.from(ids)),
    temperature: await w.upload(Float32Array.from(temperature)),
    rows,
    vocab,
    dtype,
  });
  return w.ops.downloadFloat32(out, rows);
}

/** The kernel's k best ids and their logprobs ([rows, k] each) for logits already on the device. */
function topLogprobsAt(
  w: Workspace,
  logits: DeviceAddress,
  outIds: DeviceAddress,
  outLogprobs: DeviceAddress,
  temperature: DeviceAddress,
  rows: number,
  vocab: number,
  k: number,
  dtype: DType,
): { ids: Int32Array; logprobs: Float32Array } {
  w.ops.topLogprobs({ outIds, outLogprobs, logits, temperature, rows, vocab, k, dtype });
  return {
    ids: w.ops.downloadInt32(outIds, rows * k),
    logprobs: w.ops.downloadFloat32(outLogprobs, rows * k),
  };
}

/** The kernel's k best ids and logprobs for each row of logits [temperature.length, vocab] in `dtype`. */
async function topLogprobs(
  w: Workspace,
  logits: Float32Array,
  vocab: number,
  k: number,
  temperature: number[],
  dtype: DType,
): Promise<{ ids: Int32Array; logprobs: Float32Array }> {
  const rows = temperature.length;
  return topLogprobsAt(
    w,
    await w.tensor(logits, dtype),
    await w.allocate(rows * k * 4),
    await w.allocate(rows * k * 4),
    await w.upload(Float32Array.from(temperature)),
    rows,
    vocab,
    k,
    dtype,
  );
}

/** Every logprob within `tolerance` of the reference (float32 math against double over the same inputs). */
function expectNear(actual: Float32Array, expected: Float64Array, tolerance = 1e-4): void {
  expect(actual.length).toBe(expected.length);
  expected.forEach((want, i) => {
    const got = actual[i] as number;
    if (!(got === want || Math.abs(got - want) <= tolerance)) {
      expect.fail(`row ${i}: got ${got}, expected ${want} (tolerance ${tolerance})`);
    }
  });
}

/** Copies of one row, one per id, so a call gives that row's logprob of every id. */
function repeatRow(row: Float32Array, copies: number): Float32Array {
  const all = new Float32Array(copies * row.length);
  for (let r = 0; r < copies; r++) all.set(row, r * row.length);
  return all;
}

function argmax(values: Float32Array): number {
  let best = 0;
  for (let i = 1; i < values.length; i++)
    if ((values[i] as number) > (values[best] as number)) best = i;
  return best;
}

const TEMPERATURES = [0, 0.7, 1.5, 1, -1, 0.7];

describeKernels.each(DTYPES)('tokenLogprobs in %s', (dtype: DType) => {
  it.each([256, 32_000, 128_257])(
    'matches the reference over a vocabulary of %i, with temperatures 0, 0.7 and 1.5 in one call',
    async (vocab) => {
      const w = new Workspace();
      const random = seeded(vocab);
      const rows = TEMPERATURES.length;
      const logits = randomTensor(random, rows * vocab, dtype, 8);
      const ids = TEMPERATURES.map((_, r) => {
        const row = logits.subarray(r * vocab, (r + 1) * vocab);
        // The most likely token, the first, the last, and anything between.
        const choices = [argmax(row), 0, vocab - 1];
        return r < choices.length ? (choices[r] as number) : Math.floor(random() * vocab);
      });
      const got = await tokenLogprobs(w, logits, vocab, ids, TEMPERATURES, dtype);
      expectNear(got, tokenLogprobsReference(logits, vocab, ids, TEMPERATURES));
      for (const logprob of got) expect(logprob).toBeLessThanOrEqual(0);
    },
  );

  it('subtracts the maximum: logits around 1e3 and -1e3 give finite logprobs', async () => {
    const w = new Workspace();
    const vocab = 4099;
    const random = seeded(7);
    const rows = 4;
    const logits = new Float32Array(rows * vocab);
    for (let i = 0; i < logits.length; i++) {
      const offset = Math.floor(i / vocab) % 2 === 0 ? 1000 : -1000;
      logits[i] = offset + (random() * 2 - 1) * 40;
    }
    const held = roundTo(logits, dtype);
    const ids = [1, 2048, 4098, 77];
    const temperature = [1, 0.7, 0, 1.5];
    const got = await tokenLogprobs(w, held, vocab, ids, temperature, dtype);
    for (const logprob of got) expect(Number.isFinite(logprob)).toBe(true);
    expectNear(got, tokenLogprobsReference(held, vocab, ids, temperature));
  });

  it('gives probabilities that sum to 1 over every id of a row', async () => {
    const w = new Workspace();
    const vocab = 256;
    const row = randomTensor(seeded(11), vocab, dtype, 6);
    const ids = Array.from({ length: vocab }, (_, i) => i);
    for (const t of [0, 0.7, 1.5]) {
      const got = await tokenLogprobs(
        w,
        repeatRow(row, vocab),
        vocab,
        ids,
        Array(vocab).fill(t),
        dtype,
      );
      const total = got.reduce((sum, logprob) => sum + Math.exp(logprob), 0);
      expect(Math.abs(total - 1)).toBeLessThan(1e-5);
    }
  });

  it('takes temperature 0 or below as the raw logits: the same as temperature 1', async () => {
    const w = new Workspace();
    const vocab = 1000;
    const row = randomTensor(seeded(12), vocab, dtype, 5);
    const ids = [3, 3, 3, 999, 999, 999];
    const temperature = [0, -1, 1, 0, -0.5, 1];
    const got = await tokenLogprobs(w, repeatRow(row, 6), vocab, ids, temperature, dtype);
    expect(got[0]).toBe(got[2]);
    expect(got[1]).toBe(got[2]);
    expect(got[3]).toBe(got[5]);
    expect(got[4]).toBe(got[5]);
    // A hotter temperature flattens the distribution: a likely token loses, an unlikely one gains.
    const best = argmax(row);
    const worst = argmax(row.map((x) => -x));
    const [cold, raw, hot, coldWorst, rawWorst, hotWorst] = await tokenLogprobs(
      w,
      repeatRow(row, 6),
      vocab,
      [best, best, best, worst, worst, worst],
      [0.5, 1, 2, 0.5, 1, 2],
      dtype,
    );
    expect(cold).toBeGreaterThan(raw as number);
    expect(raw).toBeGreaterThan(hot as number);
    expect(coldWorst).toBeLessThan(rawWorst as number);
    expect(rawWorst).toBeLessThan(hotWorst as number);
  });

  it('computes many rows at once (the CPU splits them over its threads)', async () => {
    const w = new Workspace();
    const vocab = 300;
    const rows = 200;
    const random = seeded(13);
    const logits = randomTensor(random, rows * vocab, dtype, 10);
    const ids = Array.from({ length: rows }, () => Math.floor(random() * vocab));
    const temperature = Array.from(
      { length: rows },
      (_, r) => [0, 0.3, 0.7, 1, 1.5, 4][r % 6] as number,
    );
    const got = await tokenLogprobs(w, logits, vocab, ids, temperature, dtype);
    expectNear(got, tokenLogprobsReference(logits, vocab, ids, temperature));
  });
});

/** Row r of the ids [rows, k], as numbers. */
function rowOf(ids: Int32Array, r: number, k: number): number[] {
  return Array.from(ids.subarray(r * k, (r + 1) * k));
}

describeKernels.each(DTYPES)('topLogprobs in %s', (dtype: DType) => {
  describe.each([256, 32_000, 128_257])('over a vocabulary of %i', (vocab) => {
    it.each([1, 5, 20, 64])(
      'matches the reference for k = %i, with temperatures 0, 0.7 and 1.5 in one call',
      async (k) => {
        const w = new Workspace();
        const rows = TEMPERATURES.length;
        const logits = randomTensor(seeded(vocab + k), rows * vocab, dtype, 8);
        const got = await topLogprobs(w, logits, vocab, k, TEMPERATURES, dtype);
        const want = topLogprobsReference(logits, vocab, k, TEMPERATURES);
        expect(Array.from(got.ids)).toEqual(Array.from(want.ids));
        expectNear(got.logprobs, want.logprobs);
        for (let r = 0; r < rows; r++) {
          const row = Array.from(got.logprobs.subarray(r * k, (r + 1) * k));
          // The most likely first; never above 0.
          expect(row).toEqual([...row].sort((a, b) => b - a));
          expect(row[0]).toBeLessThanOrEqual(0);
        }
      },
    );
  });

  it('orders tied logits by id, -0 tying with +0, masked (-Infinity) tokens last', async () => {
    const w = new Workspace();
    const vocab = 300;
    const k = 64;
    const levels = [2.5, 1, 0, -0, -1, -3];
    const random = seeded(21);
    const rows = 3;
    const logits = new Float32Array(rows * vocab);
    for (let i = 0; i < logits.length; i++)
      logits[i] = levels[Math.floor(random() * levels.length)] as number;
    // Row 1: every logit the same. Row 2: 10 tokens left, the rest masked.
    logits.fill(0.5, vocab, 2 * vocab);
    logits.fill(Number.NEGATIVE_INFINITY, 2 * vocab, 3 * vocab);
    for (let j = 0; j < 10; j++) logits[2 * vocab + 7 + 29 * j] = j % 2 === 0 ? 1 : -1;
    const temperature = [0.7, 1, 1.5];
    const got = await topLogprobs(w, logits, vocab, k, temperature, dtype);
    const want = topLogprobsReference(logits, vocab, k, temperature);
    expect(Array.from(got.ids)).toEqual(Array.from(want.ids));
    expectNear(got.logprobs, want.logprobs);
    // Row 0's ties in ascending id; row 1: the first k ids, each with probability 1 / vocab.
    const top = rowOf(got.ids, 0, k);
    for (let j = 1; j < k; j++) {
      const [before, after] = [top[j - 1] as number, top[j] as number];
      if (logits[before] === logits[after]) expect(after).toBeGreaterThan(before);
      else expect(logits[before]).toBeGreaterThan(logits[after] as number);
    }
    expect(rowOf(got.ids, 1, k)).toEqual(Array.from({ length: k }, (_, i) => i));
    for (const logprob of got.logprobs.subarray(k, 2 * k))
      expect(logprob).toBeCloseTo(-Math.log(vocab), 5);
    // Row 2: the 1s by id, then the -1s by id, then masked tokens by id, with logprob -Infinity.
    const masked = rowOf(got.ids, 2, k).slice(10);
    expect(rowOf(got.ids, 2, k).slice(0, 10)).toEqual([
      7, 65, 123, 181, 239, 36, 94, 152, 210, 268,
    ]);
    expect(masked).toEqual([...masked].sort((a, b) => a - b));
    for (const logprob of got.logprobs.subarray(2 * k + 10, 3 * k))
      expect(logprob).toBe(Number.NEGATIVE_INFINITY);
  });

  it.each([256, 4099, 128_257])(
    "gives each pick exactly tokenLogprobs' logprob for it (vocab %i, logits one element off alignment)",
    async (vocab) => {
      const w = new Workspace();
      const rows = TEMPERATURES.length;
      const k = 64;
      const logits = randomTensor(seeded(vocab * 3), rows * vocab, dtype, 8);
      // One element in, so rows start at every offset within a 16-byte vector (CUDA's head loop).
      const at = (await w.tensor(new Float32Array([0, ...logits]), dtype)) + dtypeBytes(dtype);
      const temperature = await w.upload(Float32Array.from(TEMPERATURES));
      const got = topLogprobsAt(
        w,
        at,
        await w.allocate(rows * k * 4),
        await w.allocate(rows * k * 4),
        temperature,
        rows,
        vocab,
        k,
        dtype,
      );
      const ids = new Int32Array(rows);
      const idsAt = await w.upload(ids);
      const out = await w.allocate(rows * 4);
      for (let j = 0; j < k; j++) {
        for (let r = 0; r < rows; r++) ids[r] = got.ids[r * k + j] as number;
        w.ops.upload(idsAt, ids);
        w.ops.tokenLogprobs({ out, logits: at, ids: idsAt, temperature, rows, vocab, dtype });
        const single = w.ops.downloadFloat32(out, rows);
        for (let r = 0; r < rows; r++) {
          const topValue = got.logprobs[r * k + j] as number;
          if (!Object.is(topValue, single[r])) {
            expect.fail(
              `row ${r}, pick ${j} (id ${ids[r]}): topLogprobs gave ${topValue}, tokenLogprobs ${single[r]}`,
            );
          }
        }
      }
    },
  );

  it('computes many rows at once (the CPU splits them over its threads), and replays in a graph', async () => {
    const w = new Workspace();
    const vocab = 300;
    const rows = 200;
    const k = 20;
    const logits = randomTensor(seeded(23), rows * vocab, dtype, 10);
    const temperature = Array.from(
      { length: rows },
      (_, r) => [0, 0.3, 0.7, 1, 1.5, 4][r % 6] as number,
    );
    const want = topLogprobsReference(logits, vocab, k, temperature);
    const logitsAt = await w.tensor(logits, dtype);
    const temperatureAt = await w.upload(Float32Array.from(temperature));
    const outIds = await w.allocate(rows * k * 4);
    const outLogprobs = await w.allocate(rows * k * 4);
    const args = [w, logitsAt, outIds, outLogprobs, temperatureAt, rows, vocab, k, dtype] as const;
    const got = topLogprobsAt(...args);
    expect(Array.from(got.ids)).toEqual(Array.from(want.ids));
    expectNear(got.logprobs, want.logprobs);
    // Captured, then replayed over other logits.
    w.ops.beginCapture();
    w.ops.topLogprobs({
      outIds,
      outLogprobs,
      logits: logitsAt,
      temperature: temperatureAt,
      rows,
      vocab,
      k,
      dtype,
    });
    const graph = w.ops.endCapture();
    const other = randomTensor(seeded(24), rows * vocab, dtype, 10);
    w.ops.uploadTensor(logitsAt, other, dtype);
    expect(w.ops.replay(graph)).toBe(true);
    const replayed = {
      ids: w.ops.downloadInt32(outIds, rows * k),
      logprobs: w.ops.downloadFloat32(outLogprobs, rows * k),
    };
    const wantOther = topLogprobsReference(other, vocab, k, temperature);
    expect(Array.from(replayed.ids)).toEqual(Array.from(wantOther.ids));
    expectNear(replayed.logprobs, wantOther.logprobs);
  });
});
