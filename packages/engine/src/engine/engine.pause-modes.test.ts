// @module-tag cuda
import { describe, expect, it } from 'vitest';
import type { GenerateChunk } from '../engine-api.js';
import { DEVICE } from '../model/runner.test-helpers.js';
import type { Engine } from './engine.js';
import { engineLauncher } from './engine.test-helpers.js';

const launch = engineLauncher({
  model: 'builtin:tiny',
  device: DEVICE,
  numPages: 128,
  maxContext: 512,
});

const input = { text: 'Once upon', samplingParams: { maxNewTokens: 480, ignoreEos: true } };

/** Starts a streamed request and resolves once it has `n` tokens; the rest keeps streaming. */
async function streamed(engine: Engine, n: number) {
  const stream = engine.generateStream(input)[Symbol.asyncIterator]();
  let last: GenerateChunk | undefined;
  while ((last?.outputIds.length ?? 0) < n) last = (await stream.next()).value as GenerateChunk;
  const rest = (async () => {
    for (let step = await stream.next(); !step.done; step = await stream.next()) last = step.value;
    return last as GenerateChunk;
  })();
  return { rest };
}

describe('pause modes on the real engine (miles: retract; SGLang: in_place)', () => {
  it('retract puts a running request back in the queue; after continue it ends with the same tokens', async () => {
    const engine = await launch();
    const reference = await engine.generate(input);
    const { rest } = await streamed(engine, 5);
    const paused = await engine.pauseGeneration({ mode: 'retract' });
    expect(paused).toEqual({
      success: true,
      message: 'paused (retract); running requests retracted: 1',
    });
    const metrics = await engine.metrics();
    expect([metrics.runningRequests, metrics.waitingRequests]).toEqual([0, 1]);
    expect((await engine.continueGeneration()).success).toBe(true);
    const out = await rest;
    expect(out.metaInfo.finishReason?.type).toBe('length');
    expect(out.outputIds).toEqual(reference.outputIds);
  });

  it('retract, release kv_cache, resume, continue: the same tokens (nothing lost)', async () => {
    const engine = await launch();
    const reference = await engine.generate(input);
    const { rest } = await streamed(engine, 5);
    expect((await engine.pauseGeneration({ mode: 'retract' })).success).toBe(true);
    expect((await engine.releaseMemoryOccupation({ tags: ['kv_cache'] })).success).toBe(true);
    expect((await engine.resumeMemoryOccupation()).success).toBe(true);
    expect((await engine.continueGeneration()).success).toBe(true);
    expect((await rest).outputIds).toEqual(reference.outputIds);
  });

  it('in_place keeps the request running where it is, and says in_place', async () => {
    const engine = await launch();
    const reference = await engine.generate(input);
    const { rest } = await streamed(engine, 5);
    expect(await engine.pauseGeneration({ mode: 'in_place' })).toMatchObject({
      success: true,
      message: 'paused (in_place)',
    });
    expect((await engine.metrics()).runningRequests).toBe(1);
    expect((await engine.continueGeneration()).message).toBe('continued');
    expect((await rest).outputIds).toEqual(reference.outputIds);
  });

  it('abort_all while retracted requests wait ends each with a reply', async () => {
    const engine = await launch();
    const { rest } = await streamed(engine, 3);
    expect((await engine.pauseGeneration({ mode: 'retract' })).success).toBe(true);
    const queued = engine.generate(input);
    expect((await engine.abortAllRequests()).message).toBe('aborting 2 requests');
    expect((await rest).metaInfo.finishReason?.type).toBe('abort');
    expect((await queued).metaInfo.finishReason?.type).toBe('abort');
  });
});
