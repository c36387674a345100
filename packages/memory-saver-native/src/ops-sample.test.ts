import { expect, it } from 'vitest';
import {
  DTYPES,
  describeKernels,
  randomTensor,
  roundTo,
  seeded,
  Workspace,
} from './ops.test-helpers.js';
import type { DType } from './ops-types.js';
import {
  drawInterval,
  drawReference,
  keptTokens,
  type SampleParams,
  sampleReference,
  uniformFromKey,
} from './sample-reference.test-helpers.js';

const VOCAB = 50;

/** Samples one token per key from the same logits row and parameters. */
async function sampleKeys(
  w: Workspace,
  logits: Float32Array,
  p: SampleParams,
  keys: bigint[],
  dtype: DType,
): Promise<number[]> {
  const rows = keys.length;
  const all = new Float32Array(rows * logits.length);
  for (let r = 0; r < rows; r++) all.set(logits, r * logits.length);
  const out = await w.allocate(rows * 4);
  w.ops.sample({
    out,
    logits: await w.tensor(all, dtype),
    rows,
    vocab: logits.length,
    temperature: await w.upload(new Float32Array(rows).fill(p.temperature)),
    topK: await w.upload(new Int32Array(rows).fill(p.topK)),
    topP: await w.upload(new Float32Array(rows).fill(p.topP)),
    randomKeys: await w.upload(BigUint64Array.from(keys)),
    dtype,
  });
  return Array.from(w.ops.downloadInt32(out, rows));
}

const keys = (count: number, from = 1n) =>
  Array.from({ length: count }, (_, i) => from + BigInt(i) * 7919n);
const argmax = (values: Float32Array) => values.indexOf(Math.max(...values));
const greedy: SampleParams = { temperature: 0, topK: 0, topP: 1 };

describeKernels.each(DTYPES)('sample in %s', (dtype: DType) => {
  const logits = randomTensor(seeded(31), VOCAB, dtype, 3);

  it('greedy takes the argmax, the lowest id on ties', async () => {
    const w = new Workspace();
    const tied = roundTo(
      new Float32Array(VOCAB).map((_, i) => (i === 3 || i === 7 ? 5 : i / 100)),
      dtype,
    );
    expect(await sampleKeys(w, tied, greedy, keys(4), dtype)).toEqual([3, 3, 3, 3]);
    expect(await sampleKeys(w, tied, { ...greedy, temperature: -1 }, keys(2), dtype)).toEqual([
      3, 3,
    ]);
    expect(await sampleKeys(w, logits, greedy, keys(1), dtype)).toEqual([argmax(logits)]);
  });

  it('top-k = 1 and a tiny temperature are greedy', async () => {
    const w = new Workspace();
    const best = argmax(logits);
    const topOne = await sampleKeys(
      w,
      logits,
      { temperature: 1, topK: 1, topP: 1 },
      keys(32),
      dtype,
    );
    expect(new Set(topOne)).toEqual(new Set([best]));
    const cold = await sampleKeys(
      w,
      logits,
      { temperature: 1e-3, topK: 0, topP: 1 },
      keys(32),
      dtype,
    );
    expect(new Set(cold)).toEqual(new Set([best]));
  });

  it('a key always picks the same token; different keys spread over the top-k', async () => {
    const w = new Workspace();
    const p = { temperature: 1, topK: 5, topP: 1 };
    const same = await sampleKeys(w, logits, p, Array(16).fill(12345n), dtype);
    expect(new Set(same).size).toBe(1);
    expect(await sampleKeys(w, logits, p, [12345n], dtype)).toEqual([same[0]]);
    const topFive = Array.from(logits.keys()).sort(
      (x, y) => (logits[y] as number) - (logits[x] as number) || x - y,
    );
    const spread = await sampleKeys(w, logits, p, keys(400), dtype);
    expect(new Set(spread)).toEqual(new Set(topFive.slice(0, 5)));
  });

  it('top-p keeps the smallest set reaching the probability', async () => {
    const w = new Workspace();
    const probs = new Map([
      [9, 0.5],
      [2, 0.3],
      [30, 0.15],
      [17, 0.05],
    ]);
    const nucleus = roundTo(
      new Float32Array(VOCAB).map((_, i) => Math.log(probs.get(i) ?? 1e-9)),
      dtype,
    );
    const drawn = await sampleKeys(
      w,
      nucleus,
      { temperature: 1, topK: 0, topP: 0.7 },
      keys(300),
      dtype,
    );
    expect(new Set(drawn)).toEqual(new Set([9, 2]));
    const wider = await sampleKeys(
      w,
      nucleus,
      { temperature: 1, topK: 0, topP: 0.9 },
      keys(300),
      dtype,
    );
    expect(new Set(wider)).toEqual(new Set([9, 2, 30]));
    const both = await sampleKeys(
      w,
      nucleus,
      { temperature: 1, topK: 2, topP: 0.9 },
      keys(100),
      dtype,
    );
    expect(new Set(both)).toEqual(new Set([9, 2]));
  });

  it('draws with the expected frequencies; a huge temperature is near uniform', async () => {
    const w = new Workspace();
    const four = roundTo(Float32Array.of(0, 1, 2, -1), dtype);
    const counts = [0, 0, 0, 0];
    for (const token of await sampleKeys(
      w,
      four,
      { temperature: 1, topK: 0, topP: 1 },
      keys(4000),
      dtype,
    )) {
      counts[token] = (counts[token] as number) + 1;
    }
    const weights = Array.from(four, Math.exp);
    const total = weights.reduce((a, b) => a + b);
    const frequencies = counts.map((count) => count / 4000);
    const expected = weights.map((weight) => weight / total);
    frequencies.forEach((frequency, i) => {
      expect(Math.abs(frequency - (expected[i] as number))).toBeLessThan(0.03);
    });
    const hot = await sampleKeys(
      w,
      logits,
      { temperature: 1e4, topK: 0, topP: 1 },
      keys(400),
      dtype,
    );
    expect(new Set(hot).size).toBeGreaterThan(40);
  });

  it('picks the token the reference rule predicts for each key', async () => {
    const w = new Workspace();
    const settings: SampleParams[] = [
      { temperature: 1, topK: 0, topP: 1 },
      { temperature: 0.7, topK: 10, topP: 1 },
      { temperature: 1.3, topK: 0, topP: 0.8 },
      { temperature: 0.9, topK: 20, topP: 0.6 },
    ];
    for (const p of settings) {
      const drawKeys = keys(100, 77n);
      const got = await sampleKeys(w, logits, p, drawKeys, dtype);
      drawKeys.forEach((key, i) => {
        const expected = sampleReference(logits, p, key);
        if (expected.margin > 1e-4) expect(got[i]).toBe(expected.token);
      });
    }
  });

  it('picks the predicted tokens over a 100k vocabulary, with and without a peak', async () => {
    const w = new Workspace();
    const vocab = 100_000;
    const flat = randomTensor(seeded(32), vocab, dtype, 10);
    const peaked = roundTo(
      flat.map((x, i) => (i % 5000 === 17 ? 12 + x / 10 : x - 10)),
      dtype,
    );
    const cases: [Float32Array, SampleParams][] = [
      [flat, { temperature: 1, topK: 0, topP: 1 }],
      [flat, { temperature: 0.8, topK: 50, topP: 1 }],
      [flat, { temperature: 1.5, topK: 0, topP: 0.9 }],
      [flat, { temperature: 1, topK: 3000, topP: 0.5 }],
      [peaked, { temperature: 1, topK: 0, topP: 0.95 }],
      [peaked, { temperature: 0.7, topK: 10, topP: 0.8 }],
    ];
    for (const [logits, p] of cases) {
      const drawKeys = keys(48, 101n);
      const got = await sampleKeys(w, logits, p, drawKeys, dtype);
      const kept = keptTokens(logits, p);
      drawKeys.forEach((key, i) => {
        const expected = drawReference(kept, key);
        if (expected.margin > 1e-4) expect(got[i]).toBe(expected.token);
        // Over many small shares, float sums (the CPU sums in order) move the draw by a few tokens.
        const share = drawInterval(kept, got[i] as number);
        const u = uniformFromKey(key);
        expect(share !== null && u > share.start - 5e-4 && u < share.end + 5e-4).toBe(true);
      });
    }
  });
});
