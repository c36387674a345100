import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { GenerateOutput } from '../engine-api.js';
import { FIXTURES, stories260K } from '../model/runner.test-helpers.js';
import { engineLauncher } from './engine.test-helpers.js';

// Tensor parallel on the CPU backend: TP ranks are worker threads joined by the native
// shared-memory communicator. float32 throughout, so TP 2 must give TP 1's tokens exactly.
const launch = engineLauncher({
  model: 'builtin:tiny',
  device: 'cpu',
  dtype: 'float32',
  numPages: 64,
  maxContext: 256,
});

const greedy = (n: number) => ({ maxNewTokens: n, ignoreEos: true });
const PROMPTS = [
  [1, 5, 9, 33, 2],
  [7, 7, 7, 100, 42, 13, 99, 0, 200],
  [250, 3],
];

/** Each prompt's greedy tokens and their logprobs, all in flight at once. */
async function run(engine: Awaited<ReturnType<typeof launch>>, n = 16): Promise<GenerateOutput[]> {
  return Promise.all(
    PROMPTS.map((inputIds) =>
      engine.generate({ inputIds, samplingParams: greedy(n), returnLogprob: true }),
    ),
  );
}

/** Tokens identical; logprobs within float32 tolerance (the sums over ranks round differently). */
function expectSameOutputs(actual: GenerateOutput[], expected: GenerateOutput[]): void {
  expect(actual.map((o) => o.outputIds)).toEqual(expected.map((o) => o.outputIds));
  for (const [i, output] of actual.entries()) {
    const got = output.metaInfo.outputTokenLogprobs ?? [];
    const want = expected[i]?.metaInfo.outputTokenLogprobs ?? [];
    expect(got).toHaveLength(want.length);
    for (const [j, [logprob]] of want.entries()) {
      const error =
        Math.abs((got[j]?.[0] ?? Number.NaN) - logprob) / Math.max(1, Math.abs(logprob));
      expect(error).toBeLessThan(1e-5);
    }
  }
}

describe('tensor parallel on the CPU', () => {
  it.each([
    ['builtin:tiny', 'builtin:tiny'],
    ['the llama fixture (tied embeddings)', resolve(FIXTURES, 'llama')],
    ['the mistral fixture (own lm_head)', resolve(FIXTURES, 'mistral')],
    ['the qwen2 fixture (q/k/v bias)', resolve(FIXTURES, 'qwen2')],
    ['the qwen3 fixture (q/k norm)', resolve(FIXTURES, 'qwen3')],
    ['stories260K', stories260K()],
  ])('TP 2 gives TP 1 tokens and logprobs on %s', async (_, model) => {
    const one = await run(await launch({ model }));
    const two = await launch({ model, tpSize: 2 });
    expect(two.modelInfo().tpSize).toBe(2);
    expectSameOutputs(await run(two), one);
  });
});
