import { expect, it } from 'vitest';
import { forEachPassMode, loopPerTest } from './rank-loop.test-helpers.js';
import { expectedOutput } from './scheduler.test-helpers.js';

const prompt = (n: number, seed = 1) =>
  Array.from({ length: n }, (_, i) => (i * 5 + seed * 11) % 90);
const start = loopPerTest();

forEachPassMode('RankLoop: pause modes racing memory release and wake', () => {
  it('retract, release kv_cache, resume, continue: the same greedy tokens as without the pause', async () => {
    const h = start();
    const prompts = [prompt(9), prompt(6, 2), prompt(13, 3)];
    const seqs = prompts.map((p, i) => h.submit(`r${i}`, p, 24));
    await h.settle(6);
    expect(seqs.every((s) => s.outputTokens.length > 0)).toBe(true);
    expect((await h.loop.pauseGeneration('retract')).success).toBe(true);
    expect((await h.loop.releaseMemory(['kv_cache'])).success).toBe(true);
    expect(h.cache?.size).toBe(0);
    expect(h.pages.freePages).toBe(h.pages.totalPages);
    expect((await h.loop.resumeMemory()).success).toBe(true);
    const passes = h.loop.passes;
    await h.settle(10);
    // Rule 8: the retract pause is still there after the wake.
    expect(h.loop.passes).toBe(passes);
    expect(h.loop.pause.userPauseMode).toBe('retract');
    expect(h.loop.continueGeneration()).toEqual({ success: true, message: 'continued' });
    await h.settle(80);
    for (const [i, p] of prompts.entries())
      expect(h.finished.get(`r${i}`)).toEqual(expectedOutput(p, 24));
    expect(h.pages.freePages + (h.cache?.size ?? 0)).toBe(h.pages.totalPages);
  });

  it('retract while a release drains: both wait for the pass in flight; after the wake still paused, then it finishes', async () => {
    const h = start();
    const a = h.submit('a', prompt(7), 20);
    await h.settle(4);
    h.holdForward();
    await h.settle(3);
    const release = h.loop.releaseMemory();
    const paused = h.loop.pauseGeneration('retract');
    await h.settle(5);
    expect(h.saver.pausedTags()).toEqual([]);
    h.open();
    const [released, retracted] = await Promise.all([release, paused]);
    expect(released.success).toBe(true);
    expect(retracted).toEqual({
      success: true,
      message: 'paused (retract); running requests retracted: 1',
    });
    expect(h.scheduler.waiting.map((s) => s.id)).toEqual(['a']);
    expect(a.retractions).toBe(1);
    expect((await h.loop.resumeMemory()).success).toBe(true);
    const passes = h.loop.passes;
    await h.settle(10);
    expect(h.loop.passes).toBe(passes);
    expect(h.loop.pause.userPauseMode).toBe('retract');
    h.loop.continueGeneration();
    await h.settle();
    expect(h.finished.get('a')).toEqual(expectedOutput(prompt(7), 20));
  });

  it('continue during a release drain succeeds; the release still frees; nothing runs until the wake', async () => {
    const h = start();
    h.submit('a', prompt(7), 20);
    await h.settle(3);
    h.holdForward();
    await h.settle(3);
    const waited = h.loop.pauseGeneration('wait');
    const release = h.loop.releaseMemory();
    const reply = h.loop.continueGeneration();
    expect(reply.success).toBe(true);
    expect(reply.message).toMatch(/^continued; a memory release is in progress: nothing runs/);
    expect(await waited).toEqual({
      success: false,
      message: 'pause (wait) cancelled: cancelled by continueGeneration',
    });
    h.open();
    expect((await release).success).toBe(true);
    expect(h.saver.pausedTags()).toEqual(['cuda_graph', 'kv_cache', 'weights']);
    const passes = h.loop.passes;
    await h.settle(10);
    expect(h.loop.passes).toBe(passes);
    expect(h.touched.every((paused) => paused.length === 0)).toBe(true);
    await h.loop.resumeMemory();
    await h.settle();
    expect(h.loop.pause.userPauseMode).toBeNull();
    expect(h.finished.get('a')).toEqual(expectedOutput(prompt(7), 20));
  });

  it('retract while only weights are released frees the KV at once; nothing runs until the wake', async () => {
    const h = start();
    const a = h.submit('a', prompt(7), 20);
    await h.settle(4);
    await h.loop.releaseMemory(['weights']);
    expect(a.pageTable.length).toBeGreaterThan(0);
    expect(await h.loop.pauseGeneration('retract')).toMatchObject({ success: true });
    expect(a.pageTable).toEqual([]);
    h.loop.continueGeneration();
    const passes = h.loop.passes;
    await h.settle(10);
    expect(h.loop.passes).toBe(passes);
    await h.loop.resumeMemory();
    await h.settle();
    expect(h.finished.get('a')).toEqual(expectedOutput(prompt(7), 20));
  });

  it('rule 8 with in_place: kept requests are retracted by the kv_cache release; paused after the wake', async () => {
    const h = start();
    const a = h.submit('a', prompt(9), 16);
    await h.settle(4);
    await h.loop.pauseGeneration('in_place');
    expect(h.scheduler.running).toEqual([a]);
    await h.loop.releaseMemory();
    expect(h.scheduler.waiting).toEqual([a]);
    await h.loop.resumeMemory();
    const passes = h.loop.passes;
    await h.settle(10);
    expect(h.loop.passes).toBe(passes);
    expect(h.loop.pause.userPauseMode).toBe('in_place');
    h.loop.continueGeneration();
    await h.settle();
    expect(h.finished.get('a')).toEqual(expectedOutput(prompt(9), 16));
  });
});
