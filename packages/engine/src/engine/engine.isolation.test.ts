// @module-tag cuda
import { describe, expect, it } from 'vitest';
import { DEVICE } from '../model/runner.test-helpers.js';
import { createServer } from '../server/create-server.js';
import { Engine } from './engine.js';
import { engineLauncher } from './engine.test-helpers.js';

const launch = engineLauncher({
  model: 'builtin:tiny',
  device: DEVICE,
  numPages: 128,
  maxContext: 512,
});

const long = { maxNewTokens: 300, ignoreEos: true };

describe('a refused request touches nothing but itself (issue 14.1)', () => {
  /** POST /generate on a real engine through the real routes. */
  async function http(engine: Engine, body: object) {
    const app = createServer(engine);
    try {
      return await app.inject({ method: 'POST', url: '/generate', payload: body });
    } finally {
      await app.close();
    }
  }

  it('a rid already in flight is refused (400), and the request running under it goes on', async () => {
    const engine = await launch();
    await engine.pauseGeneration({ mode: 'keep' });
    const first = engine.generate({ text: 'a', rid: 'r', samplingParams: long });
    const refused = await http(engine, { text: 'b', rid: 'r' });
    expect(refused.statusCode).toBe(400);
    expect(refused.json().message).toBe('a request with rid r is already in flight');
    await engine.continueGeneration();
    const out = await first;
    expect(out.metaInfo.finishReason?.type).toBe('length');
    expect(out.outputIds).toHaveLength(300);
  });

  it("an invalid request under an n-group's base rid leaves the group running", async () => {
    const engine = await launch();
    await engine.pauseGeneration({ mode: 'keep' });
    const group = [0, 1, 2].map((j) =>
      engine.generate({ text: 'p', rid: `job-${j}`, samplingParams: long }),
    );
    const refused = await http(engine, {
      text: 'p',
      rid: 'job',
      sampling_params: { max_new_tokens: 10_000 },
    });
    expect(refused.statusCode).toBe(400);
    expect(refused.json().message).toMatch(/context length/);
    const again = await http(engine, { text: 'p', rid: 'job', sampling_params: { n: 3 } });
    expect(again.statusCode).toBe(400);
    await engine.continueGeneration();
    for (const out of await Promise.all(group))
      expect(out.metaInfo.finishReason?.type).toBe('length');
  });

  it("aborting a call's signal aborts exactly the requests it submitted", async () => {
    const engine = await launch();
    await engine.pauseGeneration({ mode: 'keep' });
    const mine = new AbortController();
    const own = engine.generate(
      { text: 'a', rid: 'mine', samplingParams: long },
      { signal: mine.signal },
    );
    const other = engine.generate({ text: 'a', rid: 'mine-0', samplingParams: long });
    mine.abort();
    await engine.continueGeneration();
    expect((await own).metaInfo.finishReason?.type).toBe('abort');
    expect((await other).metaInfo.finishReason?.type).toBe('length');
    const late = new AbortController();
    late.abort();
    await expect(engine.generate({ text: 'a' }, { signal: late.signal })).rejects.toThrow(
      /cancelled/,
    );
  });
});

describe('a rank worker that dies', () => {
  it('ends its requests with an error reply, and refuses new ones for it with a 503', async () => {
    const engine = await launch({ dpSize: 2 });
    await engine.pauseGeneration({ mode: 'keep' });
    const onRank = (rank: number) =>
      engine.generate({ text: `r${rank}`, samplingParams: long, dataParallelRank: rank });
    const [dying, living] = [onRank(0), onRank(1)];
    const ranks = (engine as unknown as { ranks: { worker: { terminate(): Promise<number> } }[] })
      .ranks;
    await ranks[0]?.worker.terminate();
    await engine.continueGeneration();
    const ended = await dying;
    expect(ended.metaInfo.finishReason).toMatchObject({
      type: 'abort',
      message: 'rank 0 exited (code 1)',
    });
    expect((await living).metaInfo.finishReason?.type).toBe('length');
    await expect(onRank(0)).rejects.toMatchObject({
      statusCode: 503,
      message: 'rank 0 cannot serve: rank 0 exited (code 1)',
    });
    expect((await engine.isSleeping()).success).toBe(false);
  });
});

describe('updateWeightVersion', () => {
  it('names the weights, aborting what runs unless told not to', async () => {
    const engine = await launch();
    await engine.pauseGeneration({ mode: 'keep' });
    const running = engine.generate({ text: 'a', samplingParams: long });
    const kept = await engine.updateWeightVersion({ newVersion: 'v1', abortAllRequests: false });
    expect(kept).toEqual({ success: true, message: 'weight version is v1' });
    expect(await engine.updateWeightVersion({ newVersion: 'v2' })).toEqual({
      success: true,
      message: 'weight version is v2; aborting 1 requests',
    });
    const out = await running;
    expect(out.metaInfo.finishReason?.type).toBe('abort');
    expect(engine.weightVersion()).toBe('v2');
    expect((await engine.updateWeightVersion({ newVersion: '' })).success).toBe(false);
  });
});

describe('KV pools of ranks that share a device', () => {
  it('split the memory fraction between them instead of taking it each', async () => {
    const sized = async (dpSize: number) => {
      const engine = await Engine.launch({
        model: 'builtin:tiny',
        device: DEVICE,
        maxContext: 512,
        kvMemoryFraction: 0.2,
        dpSize,
        ...(DEVICE === 'cuda' ? { gpuIds: new Array(dpSize).fill(0) } : {}),
      });
      const tokens = engine.modelInfo().serving.maxTotalTokens;
      // Gone before the next measures free memory (on a GPU the first one's pool is taken).
      await engine.shutdown();
      return tokens;
    };
    const alone = await sized(1);
    const shared = await sized(2);
    expect(shared / alone).toBeGreaterThan(0.4);
    expect(shared / alone).toBeLessThan(0.6);
  });
});

describe('ts_engine_resident_bytes{tag="kv_cache"}', () => {
  it('counts what the pool holds, not its reserved size', async () => {
    const engine = await launch();
    const reserved = engine.modelInfo().serving.maxTotalTokens;
    const before = (await engine.metrics()).residentBytesByTag.kv_cache ?? -1;
    await engine.generate({ text: 'a', samplingParams: { maxNewTokens: 40, ignoreEos: true } });
    const after = (await engine.metrics()).residentBytesByTag.kv_cache ?? -1;
    expect(after).toBeGreaterThan(0);
    if (DEVICE === 'cpu') {
      // builtin:tiny: 128 pages of 16 tokens; one short request touches a few of them.
      expect(before).toBeLessThan(after);
      expect(reserved).toBe(128 * 16);
    }
    await engine.releaseMemoryOccupation({ tags: ['kv_cache'] });
    expect((await engine.metrics()).residentBytesByTag.kv_cache).toBe(0);
  });
});

describe('metaInfo.cachedTokens (SGLang meta_info.cached_tokens)', () => {
  it('says how many prompt tokens the prefix cache gave', async () => {
    const engine = await launch();
    const text = 'A prompt long enough to fill a few KV pages of sixteen tokens each.';
    const first = await engine.generate({ text, samplingParams: { maxNewTokens: 2 } });
    const second = await engine.generate({ text, samplingParams: { maxNewTokens: 2 } });
    expect(first.metaInfo.cachedTokens).toBe(0);
    expect(second.metaInfo.cachedTokens).toBe(64);
    expect(second.outputIds).toEqual(first.outputIds);
  });
});
