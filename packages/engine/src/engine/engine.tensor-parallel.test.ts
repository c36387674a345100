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

describe('sleep and wake across TP ranks (spec rules 11, 12, 13)', () => {
  it('release frees every rank, resume takes every rank back, the output stays', async () => {
    const engine = await launch({ tpSize: 2 });
    const before = await run(engine);
    const awake = (await engine.metrics()).residentBytesByTag;
    const one = (await (await launch()).metrics()).residentBytesByTag;
    // Two ranks each hold their half of the weights: together about TP 1's.
    expect(awake.weights).toBeGreaterThan(0.9 * (one.weights ?? 0));
    expect((await engine.releaseMemoryOccupation()).success).toBe(true);
    const asleep = await engine.isSleeping();
    expect(asleep).toMatchObject({ isSleeping: true });
    expect(asleep.residentBytes).toEqual({ weights: 0, kv_cache: 0, cuda_graph: 0 });
    expect((await engine.metrics()).residentBytesByTag).toMatchObject({ weights: 0, kv_cache: 0 });
    const resumed = await engine.resumeMemoryOccupation();
    expect(resumed.success).toBe(true);
    expect(resumed.repairedPools).toEqual(['target', 'target (tp rank 1)']);
    expect((await engine.metrics()).residentBytesByTag.weights).toBe(awake.weights);
    expectSameOutputs(await run(engine), before);
  });

  it('a resume that fails on TP rank 1 leaves every rank released; a retry wakes them all', async () => {
    const engine = await launch({
      tpSize: 2,
      testFaults: { failMapAfter: { dpRank: 0, tpRank: 1, successes: 0 } },
    });
    const before = await run(engine);
    expect((await engine.releaseMemoryOccupation()).success).toBe(true);
    const failed = await engine.resumeMemoryOccupation();
    expect(failed.success).toBe(false);
    expect(failed.message).toMatch(/resume failed, tags stay released: tp rank 1: .*injected/);
    expect(failed.releasedTags).toEqual(['weights', 'kv_cache', 'cuda_graph']);
    // TP rank 0's resume of weights succeeded and was turned back: nothing is resident anywhere.
    const sleeping = await engine.isSleeping();
    expect(sleeping.residentBytes).toEqual({ weights: 0, kv_cache: 0, cuda_graph: 0 });
    expect((await engine.metrics()).residentBytesByTag).toMatchObject({ weights: 0, kv_cache: 0 });
    const passes = (await engine.metrics()).forwardPassesTotal;
    const waiting = engine.generate({
      inputIds: PROMPTS[0] as number[],
      samplingParams: greedy(4),
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect((await engine.metrics()).forwardPassesTotal).toBe(passes);
    const retried = await engine.resumeMemoryOccupation();
    expect(retried).toMatchObject({ success: true, releasedTags: [] });
    expect((await waiting).outputIds).toEqual(before[0]?.outputIds.slice(0, 4));
    expectSameOutputs(await run(engine), before);
  });

  it('a partial release round-trips on every rank (rule 4)', async () => {
    const engine = await launch({ tpSize: 2 });
    const before = await run(engine);
    expect((await engine.releaseMemoryOccupation({ tags: ['weights'] })).success).toBe(true);
    expect((await engine.isSleeping()).residentBytes.weights).toBe(0);
    expect((await engine.resumeMemoryOccupation()).resumedTags).toEqual(['weights']);
    expectSameOutputs(await run(engine), before);
  });
});
