import { describe, expect, it } from 'vitest';
import { DEVICE } from '../model/runner.test-helpers.js';
import { engineLauncher } from './engine.test-helpers.js';

// 128 pages of 16 tokens: admission decides how many run, the limit is a page each.
const launch = engineLauncher({
  model: 'builtin:tiny',
  device: DEVICE,
  dtype: 'float32',
  numPages: 128,
  pageSize: 16,
  maxContext: 512,
});

describe(`the running-batch limit (${DEVICE})`, () => {
  it("is derived from each rank's KV pool when none is given, and reported as it runs", async () => {
    const engine = await launch({ dpSize: 2 });
    expect(engine.modelInfo().serving.maxRunning).toBe(128);
    const ranks = (await engine.metrics()).ranks;
    expect(ranks.map((r) => r.maxRunningRequests)).toEqual([128, 128]);
  });

  it('is the one given when one is given, beyond what the pool holds too', async () => {
    const engine = await launch({ maxRunning: 20 });
    expect(engine.modelInfo().serving.maxRunning).toBe(20);
    expect((await engine.metrics()).ranks[0]?.maxRunningRequests).toBe(20);
    const outputs = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        engine.generate({ text: `p${i}`, samplingParams: { maxNewTokens: 4, ignoreEos: true } }),
      ),
    );
    expect(outputs.every((o) => o.outputIds.length === 4)).toBe(true);
  });
});
