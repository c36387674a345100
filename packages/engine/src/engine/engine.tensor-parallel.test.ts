import { resolve } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import type { GenerateOutput } from '../engine-api.js';
import { FIXTURES, stories260K } from '../model/runner.test-helpers.js';
import type { HostTensor } from '../model/weights/named-tensors.js';
import { engineLauncher, flippedCheckpoint, tensorsOf } from './engine.test-helpers.js';

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

  it('TP 4 gives TP 1 tokens and logprobs on stories260K', async () => {
    const model = stories260K();
    const one = await run(await launch({ model }));
    expectSameOutputs(await run(await launch({ model, tpSize: 4 })), one);
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

describe('TP with DP, and the sizes a model cannot take', () => {
  it('--tp-size 2 --dp-size 2: each data-parallel rank is a TP group, all giving TP 1 tokens', async () => {
    const model = stories260K();
    const one = await run(await launch({ model }));
    const engine = await launch({ model, tpSize: 2, dpSize: 2 });
    expect(engine.modelInfo()).toMatchObject({ dpSize: 2, tpSize: 2 });
    expectSameOutputs(await run(engine), one);
    for (const dataParallelRank of [0, 1]) {
      const output = await engine.generate({
        inputIds: PROMPTS[1] as number[],
        samplingParams: greedy(16),
        dataParallelRank,
      });
      expect(output.outputIds).toEqual(one[1]?.outputIds);
    }
    expect((await engine.releaseMemoryOccupation()).success).toBe(true);
    expect((await engine.isSleeping()).residentBytes).toMatchObject({ weights: 0, kv_cache: 0 });
    expect((await engine.resumeMemoryOccupation()).repairedPools).toEqual([
      'target',
      'target (tp rank 1)',
    ]);
    expectSameOutputs(await run(engine), one);
    expect((await engine.metrics()).ranks).toHaveLength(2);
  });

  it.each([
    [
      3,
      'builtin:tiny',
      /attention heads 4, key\/value heads 2, intermediate size 256 do not divide by 3/,
    ],
    [4, resolve(FIXTURES, 'llama'), /key\/value heads 2 does not divide by 4/],
    [4, 'builtin:tiny', /key\/value heads 2, vocabulary size 258 do not divide by 4/],
  ])('refuses tp size %i for %s before any worker starts', async (tpSize, model, why) => {
    await expect(launch({ model, tpSize })).rejects.toThrow(why);
  });
});

describe('weight updates across TP ranks', () => {
  const dir = resolve(FIXTURES, 'llama');
  const request = { inputIds: [1, 5, 9, 33, 2], samplingParams: greedy(16) };

  it('from disk, and from tensors while released: each rank takes its shard, as TP 1 would', async () => {
    const flipped = flippedCheckpoint(dir);
    const engine = await launch({ model: dir, pageSize: 4, tpSize: 2 });
    const first = await engine.generate(request);
    const fresh = (await (await launch({ model: flipped, pageSize: 4 })).generate(request))
      .outputIds;
    expect(fresh).not.toEqual(first.outputIds);
    expect((await engine.updateWeightsFromDisk({ modelPath: flipped })).success).toBe(true);
    expect((await engine.generate(request)).outputIds).toEqual(fresh);

    expect((await engine.releaseMemoryOccupation()).success).toBe(true);
    const pushed = await engine.updateWeightsFromTensors({ tensors: await tensorsOf(dir) });
    expect(pushed.message).toMatch(/host backup/);
    expect((await engine.resumeMemoryOccupation()).success).toBe(true);
    expect((await engine.generate(request)).outputIds).toEqual(first.outputIds);
  });

  it('some tensors in place: the same model as TP 1 given the same push', async () => {
    const original = await tensorsOf(dir);
    const flipped = await tensorsOf(flippedCheckpoint(dir));
    // A row-parallel, a column-parallel and a vocabulary-parallel tensor, and a norm.
    const names = [
      'model.layers.0.self_attn.o_proj.weight',
      'model.layers.1.mlp.up_proj.weight',
      'model.embed_tokens.weight',
      'model.norm.weight',
    ];
    const some = flipped.filter((t) => names.includes(t.name));
    const one = await launch({ model: dir, pageSize: 4 });
    const two = await launch({ model: dir, pageSize: 4, tpSize: 2 });
    for (const engine of [one, two])
      expect((await engine.updateWeightsFromTensors({ tensors: some })).success).toBe(true);
    const expected = await run(one);
    expect(expected[0]?.outputIds).not.toEqual(
      (await run(await launch({ model: dir })))[0]?.outputIds,
    );
    expectSameOutputs(await run(two), expected);
    expect(original.length).toBe(flipped.length);
  });

  it('a bad update fails on every rank and keeps the old weights everywhere', async () => {
    const engine = await launch({ model: dir, pageSize: 4, tpSize: 2 });
    const first = await engine.generate(request);
    const wrong = await engine.updateWeightsFromDisk({ modelPath: resolve(FIXTURES, 'qwen3') });
    expect(wrong.success).toBe(false);
    expect(wrong.message).toMatch(/tp rank 0: .*old weights stay.*tp rank 1: .*old weights stay/);
    const embed = (await tensorsOf(dir)).find(
      (t) => t.name === 'model.embed_tokens.weight',
    ) as HostTensor;
    // A NaN in TP rank 1's half of the vocabulary: rank 0 refuses it too.
    const nan = new Float32Array(embed.data.slice().buffer);
    nan[nan.length - 1] = Number.NaN;
    const poisoned = { ...embed, data: new Uint8Array(nan.buffer) };
    const refused = await engine.updateWeightsFromTensors({ tensors: [poisoned] });
    expect(refused.message).toMatch(/tp rank 0: .*non-finite.*tp rank 1: .*non-finite/);
    expect(refused.message).not.toMatch(/update again/);
    expect((await engine.generate(request)).outputIds).toEqual(first.outputIds);
  });
});

describe('a TP peer that dies', () => {
  it('ends its group: requests in flight end with the reason, new ones are refused, nothing hangs', async () => {
    const engine = await launch({
      tpSize: 2,
      dpSize: 2,
      testFaults: { exitAfterSteps: { dpRank: 0, tpRank: 1, steps: 3 } },
    });
    const started = Date.now();
    const dying = await engine.generate({
      inputIds: PROMPTS[0] as number[],
      samplingParams: greedy(50),
      dataParallelRank: 0,
    });
    expect(dying.metaInfo.finishReason).toMatchObject({
      type: 'abort',
      message: expect.stringMatching(/rank 1 closed its communicator|tp rank 1/),
    });
    expect(dying.outputIds.length).toBeLessThan(50);
    expect(Date.now() - started).toBeLessThan(10_000);
    // Once the engine has seen the peer's worker end, the group takes no request.
    await vi.waitFor(
      () =>
        expect(
          engine.generate({ inputIds: [1, 2], samplingParams: greedy(2), dataParallelRank: 0 }),
        ).rejects.toThrow(/rank 0 cannot serve: rank 0 \(tp rank 1\) exited/),
      { timeout: 5000, interval: 20 },
    );
    const other = await engine.generate({
      inputIds: [1, 2],
      samplingParams: greedy(4),
      dataParallelRank: 1,
    });
    expect(other.outputIds).toHaveLength(4);
    const release = await engine.releaseMemoryOccupation();
    expect(release.success).toBe(false);
    expect(release.message).toMatch(/rank 0: .*tp rank 1/);
  });

  it('one that dies while starting fails the launch, naming it', async () => {
    await expect(
      launch({ tpSize: 2, testFaults: { exitAfterSteps: { dpRank: 0, tpRank: 1, steps: 0 } } }),
    ).rejects.toThrow(/tp rank 1/);
  });
});
