import { describe, expect, it } from 'vitest';
import {
  countingExecutor,
  drain,
  expectedOutput,
  request,
  setup,
} from './scheduler.test-helpers.js';

const prompt = (n: number, seed = 1) =>
  Array.from({ length: n }, (_, i) => (i * 17 + seed * 3) % 90);

/** Runs `steps` passes with the stand-in model. */
async function run(s: ReturnType<typeof setup>['scheduler'], steps: number) {
  for (let i = 0; i < steps; i++) {
    const items = s.schedule(true);
    s.postprocess(items, await countingExecutor.execute(items));
  }
}

describe('Scheduler.retractAll (pause retract, kv_cache release)', () => {
  it('puts running requests back at the front, in order, with their tokens and no KV', async () => {
    const { scheduler, pages } = setup({ cache: false });
    const a = request('a', prompt(6), 20);
    const b = request('b', prompt(5, 2), 20);
    scheduler.add(a);
    scheduler.add(b);
    await run(scheduler, 4);
    const queued = request('queued', prompt(3, 3), 2);
    scheduler.add(queued);
    const produced = a.outputTokens;
    expect(produced).toEqual(expectedOutput(prompt(6), 20).slice(0, 4));
    scheduler.retractAll();
    expect(scheduler.running).toEqual([]);
    expect(scheduler.waiting).toEqual([a, b, queued]);
    expect([a.status, a.computedTokens, a.pageTable, a.retractions]).toEqual(['waiting', 0, [], 1]);
    expect(a.outputTokens).toEqual(produced);
    expect(pages.freePages).toBe(pages.totalPages);
  });

  it('without a prefix cache the recompute runs the prompt and the output so far', async () => {
    const { scheduler } = setup({ cache: false });
    const a = request('a', prompt(6), 20);
    scheduler.add(a);
    await run(scheduler, 4);
    scheduler.retractAll();
    const [item] = scheduler.schedule(true);
    expect(item?.cachedTokens).toBe(0);
    expect(item?.tokens).toEqual([...prompt(6), ...a.outputTokens]);
    expect(item?.samples).toBe(true);
  });

  it('with a prefix cache the recompute starts from its full pages; the tokens are the same', async () => {
    const { scheduler, pages, cache } = setup({ pageSize: 4 });
    const a = request('a', prompt(10), 20);
    scheduler.add(a);
    await run(scheduler, 5);
    const length = a.length;
    scheduler.retractAll();
    expect(pages.freePages + (cache?.size ?? 0)).toBe(pages.totalPages);
    const [item] = scheduler.schedule(true);
    const cached = Math.floor((length - 1) / 4) * 4;
    expect(item?.cachedTokens).toBe(cached);
    expect(item?.tokens).toEqual(a.allTokens.slice(cached));
    if (item) scheduler.postprocess([item], await countingExecutor.execute([item]));
    const out = await drain(scheduler);
    expect(out.get('a')).toEqual(expectedOutput(prompt(10), 20));
  });
});
