import { InMemorySaver } from '@ts/memory-occupation/test';
import { afterEach, beforeEach, describe } from 'vitest';
import { type LaunchedStep, type LoopEvent, RankLoop } from './rank-loop.js';
import type { StepItem } from './scheduler.js';
import { countingExecutor, nextToken, request, setup } from './scheduler.test-helpers.js';
import { UNKNOWN_TOKEN } from './sequence.js';

export const tick = () => new Promise((resolve) => setImmediate(resolve));

/** How the loop's executor runs passes: one at a time, or launched ahead (overlapped). */
export type PassMode = 'sync' | 'overlapped';
let passMode: PassMode = 'sync';

/** `describe` once per pass mode; the harnesses its tests start use that mode. */
export function forEachPassMode(title: string, body: () => void): void {
  describe.each(['sync', 'overlapped'] as const)(`${title} (%s passes)`, (mode) => {
    beforeEach(() => {
      passMode = mode;
    });
    body();
  });
}

/**
 * The stand-in model as a device would run it overlapped: it keeps each pass's sampled rows,
 * and an item's input token that the host does not know yet (`inputFrom`) is taken from them
 * (checked to be that sequence's token at that position). Tokens are decided at launch.
 */
export function overlappedStandIn() {
  let previous: { id: string; index: number; token: number }[] = [];
  return {
    execute: (items: readonly StepItem[]) => countingExecutor.execute(items),
    launch(items: readonly StepItem[]): LaunchedStep {
      const rows = items.map((item) => {
        const end = item.cachedTokens + item.tokens.length;
        const tokens = item.seq.allTokens.slice(0, end);
        if (item.inputFrom !== undefined) {
          const from = previous[item.inputFrom];
          if (from?.id !== item.seq.id || from.index !== item.cachedTokens)
            throw new Error(
              `${item.seq.id}: row ${item.inputFrom} of the pass before is not its token`,
            );
          tokens[item.cachedTokens] = from.token;
        }
        if (tokens.includes(UNKNOWN_TOKEN))
          throw new Error(`${item.seq.id}: a token the device has not sampled is an input`);
        return { id: item.seq.id, index: end, token: nextToken(tokens) };
      });
      previous = rows;
      return { overlaps: true, collect: () => ({ tokens: rows.map((r) => r.token) }) };
    },
  };
}

/** A running loop over the stand-in model whose forward passes can be held open. */
export function loopHarness(options: { pages?: number; passes?: PassMode } = {}) {
  const { scheduler, pages, cache } = setup({ pages: options.pages ?? 64, pageSize: 4 });
  const saver = new InMemorySaver({ weights: 64, kv_cache: 256, cuda_graph: 0 });
  const cleared: string[] = [];
  const pools = ['target', 'draft'].map((name) => ({
    name,
    repair: () => {
      cleared.push(name);
    },
  }));
  const kvPools = { list: () => pools };
  let hold: Promise<void> | null = null;
  let release: () => void = () => {};
  const touched: string[][] = [];
  /** Each pass's items: which request, and how many of its tokens had KV already. */
  const steps: { id: string; cachedTokens: number }[][] = [];
  const enter = async (items: readonly StepItem[]) => {
    touched.push(saver.pausedTags());
    steps.push(items.map((item) => ({ id: item.seq.id, cachedTokens: item.cachedTokens })));
    saver.view('weights');
    saver.view('kv_cache');
    if (hold) await hold;
  };
  const device = overlappedStandIn();
  const executor =
    (options.passes ?? passMode) === 'sync'
      ? {
          async execute(items: readonly StepItem[]) {
            await enter(items);
            return countingExecutor.execute(items);
          },
        }
      : {
          execute: device.execute,
          async launch(items: readonly StepItem[]) {
            await enter(items);
            return device.launch(items);
          },
        };
  const events: LoopEvent[] = [];
  const finished = new Map<string, number[]>();
  const loop = new RankLoop({
    scheduler,
    executor,
    saver,
    kvPools,
    prefixCache: cache,
    onEvent: (event) => {
      events.push(event);
      if (event.finishReason) finished.set(event.seq.id, event.seq.outputTokens);
    },
  });
  const running = loop.run();
  return {
    loop,
    scheduler,
    pages,
    cache,
    saver,
    cleared,
    events,
    finished,
    touched,
    steps,
    running,
    /** Makes the next forward passes wait until `open()` is called. */
    holdForward() {
      hold = new Promise((resolve) => {
        release = resolve;
      });
    },
    open() {
      hold = null;
      release();
    },
    submit(id: string, prompt: number[], maxNewTokens = 6) {
      const seq = request(id, prompt, maxNewTokens);
      loop.submit(seq);
      return seq;
    },
    async settle(rounds = 50) {
      for (let i = 0; i < rounds; i++) await tick();
    },
  };
}

export type LoopHarness = ReturnType<typeof loopHarness>;

/** Registers an `afterEach` that stops the loop; returns a function that starts one per test. */
export function loopPerTest(): (options?: { pages?: number; passes?: PassMode }) => LoopHarness {
  let current: LoopHarness | undefined;
  afterEach(async () => {
    current?.open();
    current?.loop.stop();
    await current?.running;
    current = undefined;
  });
  return (options) => {
    current = loopHarness(options);
    return current;
  };
}
