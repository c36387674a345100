import { afterEach, expect, it } from 'vitest';
import { forEachPassMode, loopHarness, tick } from './rank-loop.test-helpers.js';
import { expectedOutput } from './scheduler.test-helpers.js';

const prompt = (n: number, seed = 1) =>
  Array.from({ length: n }, (_, i) => (i * 11 + seed * 5) % 90);
let harness: ReturnType<typeof loopHarness> | undefined;
const start = (options?: { pages?: number }) => {
  harness = loopHarness(options);
  return harness;
};
afterEach(async () => {
  harness?.open();
  harness?.loop.stop();
  await harness?.running;
});

forEachPassMode('RankLoop: the sleep/wake rules against a running loop', () => {
  it('serves requests and frees their pages', async () => {
    const h = start();
    h.submit('a', prompt(5));
    h.submit('b', prompt(9, 2));
    await h.settle();
    expect(h.finished.get('a')).toEqual(expectedOutput(prompt(5), 6));
    expect(h.finished.get('b')).toEqual(expectedOutput(prompt(9, 2), 6));
    expect(h.pages.freePages + (h.cache?.size ?? 0)).toBe(h.pages.totalPages);
  });

  it('rule 1: a release waits for the forward pass in flight, then frees; no pass runs while released (rule 11)', async () => {
    const h = start();
    h.holdForward();
    h.submit('a', prompt(5), 20);
    await h.settle(5);
    const release = h.loop.releaseMemory();
    let done = false;
    void release.then(() => {
      done = true;
    });
    await h.settle(5);
    expect(done).toBe(false);
    expect(h.saver.pausedTags()).toEqual([]);
    h.open();
    const reply = await release;
    expect(reply.success).toBe(true);
    expect(h.saver.pausedTags()).toEqual(['cuda_graph', 'kv_cache', 'weights']);
    const passes = h.loop.passes;
    h.submit('b', prompt(4));
    await h.settle();
    expect(h.loop.passes).toBe(passes);
    expect(h.touched.every((paused) => paused.length === 0)).toBe(true);
    expect(h.loop.isSleeping()).toMatchObject({ isSleeping: true });
  });

  it('requests in flight and those that arrive asleep are served after wake, with the right tokens', async () => {
    const h = start();
    h.submit('a', prompt(6), 12);
    await tick();
    await h.loop.releaseMemory();
    h.submit('late', prompt(3, 7), 5);
    await h.settle(10);
    expect(h.finished.has('late')).toBe(false);
    expect((await h.loop.resumeMemory()).success).toBe(true);
    await h.settle();
    expect(h.finished.get('a')).toEqual(expectedOutput(prompt(6), 12));
    expect(h.finished.get('late')).toEqual(expectedOutput(prompt(3, 7), 5));
    expect(h.scheduler.waiting).toHaveLength(0);
  });

  it('rule 6: continue between resuming weights and kv_cache succeeds; nothing runs until every tag is back', async () => {
    const h = start();
    h.submit('a', prompt(6), 12);
    await tick();
    expect((await h.loop.pauseGeneration('retract')).success).toBe(true);
    await h.loop.releaseMemory();
    await h.loop.resumeMemory(['weights']);
    const reply = h.loop.continueGeneration();
    expect(reply).toEqual({
      success: true,
      message: 'continued; memory is still released: nothing runs until every tag is resumed',
    });
    h.submit('late', prompt(3, 7), 5);
    const passes = h.loop.passes;
    await h.settle(10);
    expect(h.loop.passes).toBe(passes);
    expect((await h.loop.resumeMemory()).success).toBe(true);
    await h.settle();
    expect(h.loop.pause.userPauseMode).toBeNull();
    expect(h.finished.get('a')).toEqual(expectedOutput(prompt(6), 12));
    expect(h.finished.get('late')).toEqual(expectedOutput(prompt(3, 7), 5));
  });

  it('rule 7: a resume while the release drains is rejected; the release still frees', async () => {
    const h = start();
    h.holdForward();
    h.submit('a', prompt(5), 20);
    await h.settle(5);
    const release = h.loop.releaseMemory();
    await tick();
    const resume = await h.loop.resumeMemory();
    expect(resume.success).toBe(false);
    expect(resume.message).toMatch(/release is in progress/);
    h.open();
    expect((await release).success).toBe(true);
  });

  it('rule 8: a keep pause before the release stays after wake; kept requests are retracted, then finish', async () => {
    const h = start();
    h.holdForward();
    h.submit('a', prompt(7), 10);
    await h.settle(5);
    const paused = h.loop.pauseGeneration('keep');
    h.open();
    expect((await paused).success).toBe(true);
    await h.settle(5);
    expect(h.scheduler.running).toHaveLength(1);
    await h.loop.releaseMemory();
    expect(h.scheduler.running).toHaveLength(0);
    expect(h.scheduler.waiting.map((s) => s.id)).toEqual(['a']);
    await h.loop.resumeMemory();
    await h.settle(10);
    expect(h.loop.pause.userPauseMode).toBe('keep');
    expect(h.finished.has('a')).toBe(false);
    expect(h.loop.continueGeneration().success).toBe(true);
    await h.settle();
    expect(h.finished.get('a')).toEqual(expectedOutput(prompt(7), 10));
  });

  it('rule 9: releasing kv_cache resets the prefix cache; a flush succeeds while requests wait', async () => {
    const h = start();
    h.submit('a', prompt(12), 3);
    await h.settle();
    expect(h.cache?.size).toBeGreaterThan(0);
    await h.loop.pauseGeneration('keep');
    h.submit('waiting', prompt(4));
    expect(h.loop.flushCache()).toMatchObject({ success: true });
    expect(h.cache?.size).toBe(0);
    h.loop.continueGeneration();
    await h.settle();
    expect(h.cache?.size).toBeGreaterThan(0);
    await h.loop.releaseMemory(['kv_cache']);
    expect(h.cache?.size).toBe(0);
    expect(h.pages.freePages).toBe(h.pages.totalPages);
  });

  it('rule 9: pages a running request cached mid-flight are forgotten when kv_cache is released', async () => {
    const h = start();
    h.submit('a', prompt(12), 40);
    for (let i = 0; i < 50 && (h.cache?.size ?? 0) === 0; i++) await tick();
    expect(h.cache?.size).toBeGreaterThan(0); // its prompt's pages, cached while it runs
    expect(h.finished.has('a')).toBe(false);
    await h.loop.releaseMemory(['kv_cache']);
    expect(h.cache?.size).toBe(0);
    await h.loop.resumeMemory();
    await h.settle();
    expect(h.finished.get('a')).toEqual(expectedOutput(prompt(12), 40));
    expect(h.pages.freePages + (h.cache?.size ?? 0)).toBe(h.pages.totalPages);
  });

  it('rule 10: resuming kv_cache zeroes every KV pool, the draft one too', async () => {
    const h = start();
    await h.loop.releaseMemory();
    await h.loop.resumeMemory(['weights']);
    expect(h.cleared).toEqual([]);
    const reply = await h.loop.resumeMemory(['kv_cache']);
    expect(reply.repairedPools).toEqual(['target', 'draft']);
    expect(h.cleared).toEqual(['target', 'draft']);
  });

  it('pause modes: abort ends in-flight requests, wait replies once they have finished', async () => {
    const h = start();
    h.submit('a', prompt(5), 30);
    h.submit('b', prompt(5, 3), 30);
    await h.settle(3);
    expect((await h.loop.pauseGeneration('abort')).success).toBe(true);
    expect(
      h.events
        .filter((e) => e.finishReason === 'abort')
        .map((e) => e.seq.id)
        .sort(),
    ).toEqual(['a', 'b']);
    h.submit('queued', prompt(4), 3);
    await h.settle(10);
    expect(h.finished.has('queued')).toBe(false);
    expect(h.loop.continueGeneration().success).toBe(true);
    h.submit('c', prompt(5), 4);
    await h.settle(2);
    const wait = await h.loop.pauseGeneration('wait');
    expect(wait).toMatchObject({ success: true, message: 'paused (wait): drained' });
    expect(h.scheduler.running).toHaveLength(0);
    expect(h.loop.abort('nope')).toBe(false);
  });
});

forEachPassMode('RankLoop.exclusive', () => {
  it('waits for the forward pass in flight and holds new ones until it ends', async () => {
    const h = start();
    h.holdForward();
    h.submit('a', prompt(5), 8);
    await h.settle(5);
    const order: string[] = [];
    const done = h.loop.exclusive(async () => {
      order.push(`update after ${h.loop.passes} passes`);
      await h.settle(5);
      order.push(`still ${h.loop.passes}`);
    });
    await h.settle(5);
    expect(order).toEqual([]);
    h.open();
    await done;
    expect(order).toEqual(['update after 1 passes', 'still 1']);
    await h.settle();
    expect(h.finished.get('a')).toEqual(expectedOutput(prompt(5), 8));
  });
});
