import { InMemorySaver } from '@ts/memory-occupation/test';
import { afterEach } from 'vitest';
import { type LoopEvent, RankLoop } from './rank-loop.js';
import type { StepItem } from './scheduler.js';
import { countingExecutor, request, setup } from './scheduler.test-helpers.js';

export const tick = () => new Promise((resolve) => setImmediate(resolve));

/** A running loop over the stand-in model whose forward passes can be held open. */
export function loopHarness(options: { pages?: number } = {}) {
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
  const executor = {
    async execute(items: readonly StepItem[]) {
      touched.push(saver.pausedTags());
      steps.push(items.map((item) => ({ id: item.seq.id, cachedTokens: item.cachedTokens })));
      saver.view('weights');
      saver.view('kv_cache');
      if (hold) await hold;
      return countingExecutor.execute(items);
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
export function loopPerTest(): (options?: { pages?: number }) => LoopHarness {
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
