import { describe, expect, it } from 'vitest';
import { samplingParams } from './sampling-params.js';
import {
  countingExecutor,
  drain,
  expectedOutput,
  request,
  setup,
  standInInputLogprobs,
} from './scheduler.test-helpers.js';
import { Sequence } from './sequence.js';

const prompt = (n: number, seed = 1) =>
  Array.from({ length: n }, (_, i) => (i * 13 + seed * 7) % 90);

describe('Scheduler', () => {
  it('runs a batch to completion with the same tokens as each request alone, and frees every page', async () => {
    const { scheduler, pages, cache } = setup({ cache: false });
    const prompts = Array.from({ length: 12 }, (_, i) => prompt(3 + i, i));
    for (const [i, p] of prompts.entries()) scheduler.add(request(`r${i}`, p, 10));
    const out = await drain(scheduler);
    for (const [i, p] of prompts.entries()) expect(out.get(`r${i}`)).toEqual(expectedOutput(p, 10));
    expect(pages.freePages).toBe(pages.totalPages);
    expect(cache).toBeNull();
  });

  it('chunks a long prefill under the token budget and admits at most maxRunning', () => {
    const { scheduler } = setup({ maxBatchTokens: 8, maxRunning: 2 });
    scheduler.add(request('long', prompt(20)));
    scheduler.add(request('b', prompt(3)));
    scheduler.add(request('c', prompt(3)));
    const first = scheduler.schedule(true);
    expect(first.map((i) => [i.seq.id, i.tokens.length, i.samples])).toEqual([['long', 8, false]]);
    scheduler.postprocess(first, [0]);
    const second = scheduler.schedule(true);
    expect(second.map((i) => [i.seq.id, i.cachedTokens, i.tokens.length])).toEqual([
      ['long', 8, 8],
    ]);
    scheduler.postprocess(second, [0]);
    const third = scheduler.schedule(true);
    expect(third.map((i) => [i.seq.id, i.tokens.length, i.samples])).toEqual([
      ['long', 4, true],
      ['b', 3, true],
    ]);
    expect(scheduler.running).toHaveLength(2);
    expect(scheduler.schedule(false).map((i) => i.seq.id)).toEqual(['long', 'b']);
  });

  it('retracts the newest requests when pages run short; they finish later with the right tokens', async () => {
    // Nothing reserved for growth: all three are admitted, and run out of pages.
    const { scheduler, pages } = setup({
      pages: 12,
      pageSize: 2,
      cache: false,
      scheduleConservativeness: 0,
    });
    const prompts = [prompt(5, 1), prompt(5, 2), prompt(5, 3)];
    const seqs = prompts.map((p, i) => request(`r${i}`, p, 12));
    for (const s of seqs) scheduler.add(s);
    const out = await drain(scheduler);
    for (const [i, p] of prompts.entries()) expect(out.get(`r${i}`)).toEqual(expectedOutput(p, 12));
    expect(seqs.some((s) => s.retractions > 0)).toBe(true);
    expect(pages.freePages).toBe(12);
  });

  it('keeps KV for the growth of what runs: the same three requests run without a retraction', async () => {
    const { scheduler, pages } = setup({ pages: 12, pageSize: 2, cache: false });
    const prompts = [prompt(5, 1), prompt(5, 2), prompt(5, 3)];
    const seqs = prompts.map((p, i) => request(`r${i}`, p, 12));
    for (const s of seqs) scheduler.add(s);
    scheduler.schedule(true);
    // 24 tokens of KV: the first (5 + 12) is admitted; a second would not fit beside its growth.
    expect(scheduler.running.map((s) => s.id)).toEqual(['r0']);
    const out = await drain(scheduler);
    for (const [i, p] of prompts.entries()) expect(out.get(`r${i}`)).toEqual(expectedOutput(p, 12));
    expect(seqs.map((s) => s.retractions)).toEqual([0, 0, 0]);
    expect(pages.freePages).toBe(12);
  });

  it('admits beside the running batch what fits with its growth, cached pages counting as room', async () => {
    const { scheduler, cache } = setup({ pages: 16, pageSize: 4 });
    scheduler.add(request('warm', prompt(16, 9), 4));
    await drain(scheduler);
    // The cache holds 4 of the 16 pages (64 tokens), nobody else does: all count as room.
    expect(cache?.size).toBe(4);
    const ids = ['r0', 'r1', 'r2', 'r3', 'r4'];
    for (const [i, id] of ids.entries()) scheduler.add(request(id, prompt(4, i), 10));
    scheduler.schedule(true);
    // Each admitted keeps its prompt and whole budget, 4 + 10 tokens: four fit in 64, not five.
    expect(scheduler.running.map((s) => s.id)).toEqual(ids.slice(0, 4));
    const out = await drain(scheduler);
    expect([...out.keys()].sort()).toEqual(ids);
  });

  it('reuses cached prefix pages, and the cache gives them back on reset', async () => {
    const { scheduler, pages, cache } = setup({ pageSize: 4 });
    const shared = prompt(10, 5);
    scheduler.add(request('a', shared, 4));
    await drain(scheduler);
    expect(cache?.size).toBe(3);
    const b = request('b', [...shared, 1, 2], 4);
    scheduler.add(b);
    const [item] = scheduler.schedule(true);
    expect(item?.cachedTokens).toBe(8);
    scheduler.postprocess(item ? [item] : [], [0]);
    const out = await drain(scheduler);
    expect(out.get('b')?.slice(1)).toEqual(expectedOutput([...shared, 1, 2, 0], 3));
    cache?.reset();
    expect(cache?.size).toBe(0);
    expect(pages.freePages).toBe(pages.totalPages);
  });

  it('never serves the whole prompt from the cache: the last token is always computed', async () => {
    const { scheduler } = setup({ pageSize: 4 });
    const p = prompt(8, 9);
    scheduler.add(request('a', p, 1));
    await drain(scheduler);
    scheduler.add(request('again', p, 1));
    const [item] = scheduler.schedule(true);
    expect(item?.cachedTokens).toBe(4);
    expect(item?.tokens).toEqual(p.slice(4));
  });

  it('evicts cached pages before retracting anything, least recently used first', async () => {
    const { scheduler, pages, cache } = setup({ pages: 8, pageSize: 2 });
    scheduler.add(request('a', prompt(6, 1), 2));
    await drain(scheduler);
    const held = cache?.size ?? 0;
    expect(held).toBeGreaterThan(0);
    const big = request('big', prompt(13, 2), 2);
    scheduler.add(big);
    await drain(scheduler);
    expect(big.retractions).toBe(0);
    expect(pages.freePages + (cache?.size ?? 0)).toBe(8);
  });

  it('flush drops what no running request uses, also while requests wait', async () => {
    const { scheduler, cache, pages } = setup({ pageSize: 2 });
    scheduler.add(request('a', prompt(8, 3), 2));
    await drain(scheduler);
    scheduler.add(request('waiting', prompt(4), 2));
    expect(cache?.flush()).toBeGreaterThan(0);
    expect(cache?.size).toBe(0);
    expect(pages.freePages).toBe(pages.totalPages);
  });

  it('stops at eos, at stop tokens (kept in the output), at max tokens; ignoreEos goes on', async () => {
    const p = prompt(4, 4);
    const [first, second] = expectedOutput(p, 2);
    const eos = setup({ eosTokenIds: [first as number] });
    eos.scheduler.add(request('e', p, 5));
    expect((await drain(eos.scheduler)).get('e')).toEqual([first]);
    const stop = setup();
    const s = request('s', p, 5);
    Object.assign(s, { params: { ...s.params, stopTokenIds: [second] } });
    stop.scheduler.add(s);
    expect((await drain(stop.scheduler)).get('s')).toEqual([first, second]);
    expect(s.finishReason).toBe('stop');
    const ignore = setup({ eosTokenIds: [first as number] });
    const i = request('i', p, 3);
    Object.assign(i, { params: { ...i.params, ignoreEos: true } });
    ignore.scheduler.add(i);
    expect((await drain(ignore.scheduler)).get('i')).toHaveLength(3);
    expect(i.finishReason).toBe('length');
  });

  it('aborts running and waiting requests and rejects what could never fit', () => {
    const { scheduler, pages } = setup({ pages: 4, pageSize: 4 });
    scheduler.add(request('a', prompt(4)));
    scheduler.add(request('b', prompt(4)));
    scheduler.schedule(true);
    expect(scheduler.abort('a')?.finishReason).toBe('abort');
    expect(scheduler.abort('nope')).toBeNull();
    expect(scheduler.abortAll().map((s) => s.id)).toEqual(['b']);
    expect(pages.freePages).toBe(4);
    expect(() => scheduler.add(request('huge', prompt(10), 8))).toThrow(/needs 5 KV pages/);
    const limited = setup({ maxSequenceLength: 12 });
    expect(() => limited.scheduler.add(request('long', prompt(10), 3))).toThrow(
      /may reach 13 tokens/,
    );
  });

  it('retractAll puts running requests back at the front, in order', () => {
    const { scheduler, pages } = setup();
    for (const id of ['a', 'b', 'c']) scheduler.add(request(id, prompt(3)));
    scheduler.schedule(true);
    scheduler.add(request('d', prompt(3)));
    scheduler.retractAll();
    expect(scheduler.waiting.map((s) => s.id)).toEqual(['a', 'b', 'c', 'd']);
    expect(scheduler.running).toHaveLength(0);
    expect(pages.freePages).toBe(pages.totalPages);
  });

  // 256: the prompt in one step; 16: in three chunks, the others matching more each step.
  it.each([256, 16])(
    'prefills a prompt sent n times together once: the others wait and take its pages from the cache (budget %i)',
    async (maxBatchTokens) => {
      const { scheduler } = setup({ maxBatchTokens });
      const shared = prompt(40, 3);
      for (let i = 0; i < 4; i++) scheduler.add(request(`g${i}`, shared, 6));
      scheduler.add(request('other', prompt(9, 5), 6));
      let computed = 0;
      const outputs = new Map<string, number[]>();
      while (scheduler.hasWork) {
        const items = scheduler.schedule(true);
        computed += items.reduce((n, item) => n + item.tokens.length, 0);
        for (const event of scheduler.postprocess(items, await countingExecutor.execute(items)))
          if (event.finishReason) outputs.set(event.seq.id, event.seq.outputTokens);
      }
      for (let i = 0; i < 4; i++) expect(outputs.get(`g${i}`)).toEqual(expectedOutput(shared, 6));
      expect(outputs.get('other')).toEqual(expectedOutput(prompt(9, 5), 6));
      // 40 prompt tokens once, 4 (the last page, partly) for each of the other three, 9 for
      // 'other' (admitted in the first step past the waiting copies), and 5 decodes each after
      // the first token: 40 + 12 + 9 + 5 * 5.
      expect(computed).toBe(40 + 3 * 4 + 9 + 5 * 5);
    },
  );

  it('after forgetCachedKv (new weights) no KV computed before is cached, not even at finish', async () => {
    const { scheduler, cache, pages } = setup();
    const p = prompt(20, 2);
    scheduler.add(request('before', p, 8));
    const first = scheduler.schedule(true);
    scheduler.postprocess(first, await countingExecutor.execute(first));
    expect(cache?.size).toBe(5);
    expect(scheduler.forgetCachedKv()).toBe(5);
    expect(cache?.size).toBe(0);
    await drain(scheduler);
    expect(cache?.size).toBe(0);
    expect(pages.freePages).toBe(pages.totalPages);
    // A request after the update computes its whole prompt, and then caches it.
    scheduler.add(request('after', p, 2));
    const items = scheduler.schedule(true);
    expect(items[0]?.cachedTokens).toBe(0);
    await drain(scheduler);
    expect(cache?.size).toBeGreaterThan(0);
  });

  it('collects input logprobs from logprobStartLen on, within the extra-row budget, once each, also from a cached prompt', async () => {
    const { scheduler, cache } = setup({ maxBatchTokens: 64, maxInputLogprobRows: 3 });
    const p = prompt(12, 4);
    const scoring = (id: string, start: number) =>
      new Sequence(id, p, samplingParams({ maxNewTokens: 2, logprobStartLen: start }));
    /** Runs to the end; a stand-in logprob of -(p + 1) for position p; extra rows per step. */
    const run = async (...seqs: Sequence[]) => {
      for (const seq of seqs) scheduler.add(seq);
      const extra: number[] = [];
      while (scheduler.hasWork) {
        const items = scheduler.schedule(true);
        extra.push(
          items.reduce((n, item) => {
            const s = item.scores;
            if (!s) return n;
            const last = item.cachedTokens + item.tokens.length;
            return n + s.count - (s.first + s.count === last ? 1 : 0);
          }, 0),
        );
        const inputLogprobs = standInInputLogprobs(items);
        scheduler.postprocess(
          items,
          await countingExecutor.execute(items),
          undefined,
          inputLogprobs,
        );
      }
      return extra;
    };
    const from2 = scoring('from2', 2);
    const extra = await run(from2);
    expect(from2.inputLogprobs).toEqual([-2, -3, -4, -5, -6, -7, -8, -9, -10, -11]);
    expect(Math.max(...extra)).toBeLessThanOrEqual(3);
    expect(from2.outputTokens).toEqual(expectedOutput(p, 2));
    // The prompt is cached now; scoring from 0 still computes (and scores) every position.
    expect(cache?.size).toBeGreaterThan(0);
    const from0 = scoring('from0', 0);
    await run(from0);
    expect(from0.inputLogprobs).toEqual(Array.from({ length: 11 }, (_, k) => -(k + 1)));
    expect(() => scoring('past', 12)).toThrow(/past its prompt of 12 tokens/);
  });

  it('keeps input logprobs once each when a scored request is retracted and recomputed', async () => {
    const { scheduler } = setup({
      pages: 9,
      maxInputLogprobRows: 64,
      cache: false,
      scheduleConservativeness: 0,
    });
    const p = prompt(12, 6);
    scheduler.add(request('first', prompt(12, 7), 20));
    const scored = new Sequence(
      'scored',
      p,
      samplingParams({ maxNewTokens: 20, logprobStartLen: 0 }),
    );
    scheduler.add(scored);
    while (scheduler.hasWork) {
      const items = scheduler.schedule(true);
      const inputLogprobs = standInInputLogprobs(items);
      scheduler.postprocess(items, await countingExecutor.execute(items), undefined, inputLogprobs);
    }
    expect(scored.retractions).toBeGreaterThan(0);
    expect(scored.inputLogprobs).toEqual(Array.from({ length: 11 }, (_, k) => -(k + 1)));
    expect(scored.outputTokens).toEqual(expectedOutput(p, 20));
  });

  it("passes each sampled token's logprob on to the sequences that asked for it, only those", () => {
    const { scheduler } = setup();
    scheduler.add(new Sequence('wants', prompt(3), samplingParams({ returnLogprob: true })));
    scheduler.add(request('plain', prompt(4)));
    const items = scheduler.schedule(true);
    const events = scheduler.postprocess(items, [5, 6], [-0.25, -1.5]);
    expect(events.map((e) => [e.seq.id, e.token, e.logprob])).toEqual([
      ['wants', 5, -0.25],
      ['plain', 6, undefined],
    ]);
    expect('logprob' in (events[1] ?? {})).toBe(false);
  });
});
