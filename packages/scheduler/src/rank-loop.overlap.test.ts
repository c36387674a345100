import { InMemorySaver } from '@ts/memory-occupation/test';
import { describe, expect, it } from 'vitest';
import {
  type LaunchedStep,
  type LoopEvent,
  type OverlappedExecutor,
  RankLoop,
  type StepExecutor,
} from './rank-loop.js';
import { overlappedStandIn, tick } from './rank-loop.test-helpers.js';
import { samplingParams } from './sampling-params.js';
import type { StepItem } from './scheduler.js';
import { countingExecutor, nextToken, setup } from './scheduler.test-helpers.js';
import { Sequence, UNKNOWN_TOKEN } from './sequence.js';

const EOS = 3;
const prompt = (n: number, seed: number) =>
  Array.from({ length: n }, (_, i) => (i * 13 + seed * 7) % 90);

/** What the stand-in model generates for `prompt` alone, stopping at EOS or the budget. */
function alone(tokens: readonly number[], maxNewTokens: number): number[] {
  const all = [...tokens];
  for (let i = 0; i < maxNewTokens; i++) {
    const next = nextToken(all);
    all.push(next);
    if (next === EOS) break;
  }
  return all.slice(tokens.length);
}

/** Runs `requests` to the end on a loop over `executor`; outputs by id and every event. */
async function serve(executor: StepExecutor, requests: [string, number[], number][], pages = 40) {
  const { scheduler, pages: allocator, cache } = setup({ pages, pageSize: 4, eosTokenIds: [EOS] });
  const events: LoopEvent[] = [];
  const outputs = new Map<string, number[]>();
  const loop = new RankLoop({
    scheduler,
    executor,
    saver: new InMemorySaver({ weights: 64, kv_cache: 256, cuda_graph: 0 }),
    kvPools: { list: () => [] },
    prefixCache: cache,
    onEvent: (event) => {
      events.push(event);
      if (event.finishReason) outputs.set(event.seq.id, event.seq.outputTokens);
    },
  });
  const running = loop.run();
  for (const [id, tokens, maxNewTokens] of requests)
    loop.submit(new Sequence(id, tokens, samplingParams({ maxNewTokens })));
  for (let i = 0; i < 2000 && outputs.size < requests.length; i++) await tick();
  loop.stop();
  await running;
  return { outputs, events, allocator, cache, loop };
}

/** The overlapped stand-in, recording launches and collects in order and `inputFrom` items. */
function recorded(failCollectOf?: string) {
  const device = overlappedStandIn();
  const order: string[] = [];
  let passes = 0;
  let fromDevice = 0;
  return {
    order,
    fromDevice: () => fromDevice,
    executor: {
      execute: device.execute,
      async launch(items: readonly StepItem[]): Promise<LaunchedStep> {
        const pass = passes++;
        order.push(`launch ${pass}`);
        fromDevice += items.filter((item) => item.inputFrom !== undefined).length;
        const launched = device.launch(items);
        return {
          overlaps: true,
          collect: () => {
            order.push(`collect ${pass}`);
            if (items.some((item) => item.seq.id === failCollectOf && item.inputFrom !== undefined))
              throw new Error('device lost');
            return launched.collect();
          },
        };
      },
    },
  };
}

const workload: [string, number[], number][] = Array.from({ length: 14 }, (_, r) => [
  `r${r}`,
  prompt(3 + ((r * 5) % 11), r % 4),
  2 + ((r * 7) % 13),
]);

describe('RankLoop with an overlapped executor', () => {
  it('launches each pass before collecting the one before, with the tokens of the model alone', async () => {
    const run = recorded();
    const { outputs, allocator, cache } = await serve(run.executor, workload, 24);
    for (const [id, tokens, maxNewTokens] of workload)
      expect(outputs.get(id), id).toEqual(alone(tokens, maxNewTokens));
    // Every collect but the last comes after the next pass's launch.
    const launchedAhead = run.order.filter((entry, i) => {
      const pass = entry.startsWith('collect ') ? Number(entry.slice(8)) : -1;
      return pass >= 0 && run.order.slice(0, i).includes(`launch ${pass + 1}`);
    });
    expect(launchedAhead.length).toBeGreaterThan(20);
    expect(run.fromDevice()).toBeGreaterThan(50);
    // Nothing leaked, and no token the host never learned went into the prefix cache.
    expect(allocator.freePages + allocator.cachedOnlyPages).toBe(allocator.totalPages);
    expect(cache?.size).toBeGreaterThan(0);
    const sync = await serve(countingExecutor, workload, 24);
    expect(outputs).toEqual(sync.outputs);
  });

  it('a request that stops on EOS runs one pass more, whose token goes nowhere', async () => {
    const stopping = workload.find(([, tokens, max]) => alone(tokens, max).at(-1) === EOS);
    expect(stopping).toBeDefined();
    const [id, tokens, max] = stopping as [string, number[], number];
    const run = recorded();
    const { outputs, events } = await serve(run.executor, [[id, tokens, max + 5]]);
    expect(outputs.get(id)).toEqual(alone(tokens, max + 5));
    const mine = events.filter((event) => event.seq.id === id);
    expect(mine.map((event) => event.token)).toEqual(alone(tokens, max + 5));
    expect(mine.every((event) => event.token !== UNKNOWN_TOKEN)).toBe(true);
    expect(run.order.filter((entry) => entry.startsWith('launch')).length).toBe(
      (outputs.get(id) as number[]).length + 1,
    );
  });

  it('rule 1: a release waits for the pass launched and not yet collected; no pass is collected released', async () => {
    const saver = new InMemorySaver({ weights: 64, kv_cache: 256, cuda_graph: 0 });
    const { scheduler, cache } = setup({ pages: 40, pageSize: 4, eosTokenIds: [EOS] });
    const device = overlappedStandIn();
    let releaseAsked = false;
    const collected: { afterAsk: boolean; paused: string[] }[] = [];
    const outputs = new Map<string, number[]>();
    const executor: OverlappedExecutor = {
      execute: device.execute,
      async launch(items: readonly StepItem[]): Promise<LaunchedStep> {
        const launched = device.launch(items);
        return {
          overlaps: true,
          collect: () => {
            collected.push({ afterAsk: releaseAsked, paused: saver.pausedTags() });
            return launched.collect();
          },
        };
      },
    };
    const loop = new RankLoop({
      scheduler,
      executor,
      saver,
      kvPools: { list: () => [] },
      prefixCache: cache,
      onEvent: (event) => {
        if (event.finishReason) outputs.set(event.seq.id, event.seq.outputTokens);
      },
    });
    const running = loop.run();
    const requests = workload
      .slice(0, 6)
      .map(([id, tokens, max]) => [id, tokens, max + 20] as const);
    for (const [id, tokens, maxNewTokens] of requests)
      loop.submit(new Sequence(id, tokens, samplingParams({ maxNewTokens })));
    for (let i = 0; i < 5; i++) await tick();
    releaseAsked = true;
    expect((await loop.releaseMemory()).success).toBe(true);
    const collectedAsleep = collected.length;
    expect(collected.some((c) => c.afterAsk)).toBe(true);
    expect((await loop.resumeMemory()).success).toBe(true);
    for (let i = 0; i < 2000 && outputs.size < requests.length; i++) await tick();
    loop.stop();
    await running;
    expect(collected.length).toBeGreaterThan(collectedAsleep);
    expect(collected.every((c) => c.paused.length === 0)).toBe(true);
    for (const [id, tokens, maxNewTokens] of requests)
      expect(outputs.get(id), id).toEqual(alone(tokens, maxNewTokens));
  });

  it('a pass that fails aborts its requests and those of the pass launched on its tokens; the rest go on', async () => {
    const run = recorded('r1');
    const { outputs, events } = await serve(run.executor, workload.slice(0, 6));
    const aborted = events.filter((event) => event.finishReason === 'abort');
    expect(aborted.map((event) => event.seq.id)).toContain('r1');
    expect(aborted.every((event) => event.token === null && 'error' in event)).toBe(true);
    for (const [id, tokens, maxNewTokens] of workload.slice(0, 6)) {
      if (aborted.some((event) => event.seq.id === id)) continue;
      expect(outputs.get(id), id).toEqual(alone(tokens, maxNewTokens));
    }
    expect(outputs.size + aborted.length).toBeGreaterThanOrEqual(6);
  });
});
