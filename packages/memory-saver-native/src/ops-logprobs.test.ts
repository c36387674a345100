import { expect, it } from 'vitest';
import {
  DTYPES,
  describeKernels,
  randomTensor,
  roundTo,
  seeded,
  Workspace,
} from './ops.test-helpers.js';
import { tokenLogprobsReference } from './ops-reference.test-helpers.js';
import type { DType } from './ops-types.js';

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
  w.ops.tokenLogprobs(
    out,
    await w.tensor(logits, dtype),
    await w.upload(Int32Array.from(ids)),
    await w.upload(Float32Array.from(temperature)),
    rows,
    vocab,
    dtype,
  );
  return w.ops.downloadFloat32(out, rows);
}

/** Every logprob within `tolerance` of the reference (float32 math against double over the same inputs). */
function expectNear(actual: Float32Array, expected: Float64Array, tolerance = 1e-4): void {
  expect(actual.length).toBe(expected.length);
  expected.forEach((want, i) => {
    const got = actual[i] as number;
    if (!(Math.abs(got - want) <= tolerance)) {
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
