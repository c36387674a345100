import { expect, it } from 'vitest';
import { forEachPassMode, loopPerTest } from './rank-loop.test-helpers.js';
import { expectedOutput } from './scheduler.test-helpers.js';

const prompt = (n: number, seed = 1) =>
  Array.from({ length: n }, (_, i) => (i * 7 + seed * 3) % 90);
const start = loopPerTest();

forEachPassMode('RankLoop: pause modes in_place and retract', () => {
  it('in_place keeps running requests and their KV; they go on after continue, never retracted', async () => {
    const h = start();
    const a = h.submit('a', prompt(7), 20);
    await h.settle(5);
    const reply = await h.loop.pauseGeneration('in_place');
    expect(reply).toMatchObject({ success: true, message: 'paused (in_place)' });
    const passes = h.loop.passes;
    const pages = [...a.pageTable];
    await h.settle(10);
    expect(h.loop.passes).toBe(passes);
    expect(h.scheduler.running.map((s) => s.id)).toEqual(['a']);
    expect(a.pageTable).toEqual(pages);
    expect(pages.length).toBeGreaterThan(0);
    expect(h.loop.continueGeneration()).toEqual({ success: true, message: 'continued' });
    await h.settle();
    expect(h.finished.get('a')).toEqual(expectedOutput(prompt(7), 20));
    expect(a.retractions).toBe(0);
  });

  it('retract: the pass in flight ends first, then running requests go back without KV, keeping their tokens', async () => {
    const h = start();
    const a = h.submit('a', prompt(9), 30);
    const b = h.submit('b', prompt(6, 2), 30);
    await h.settle(10);
    h.holdForward();
    await h.settle(3);
    const produced = a.outputTokens.length;
    expect(produced).toBeGreaterThan(0);
    let replied = false;
    const paused = h.loop.pauseGeneration('retract').then((r) => {
      replied = true;
      return r;
    });
    await h.settle(5);
    expect(replied).toBe(false);
    expect(h.scheduler.running).toHaveLength(2);
    h.open();
    expect(await paused).toEqual({
      success: true,
      message: 'paused (retract); running requests retracted: 2',
    });
    expect(h.scheduler.running).toHaveLength(0);
    expect(h.scheduler.waiting.map((s) => s.id)).toEqual(['a', 'b']);
    expect(a.outputTokens).toHaveLength(produced + 1);
    expect([a.pageTable, a.computedTokens, a.retractions]).toEqual([[], 0, 1]);
    expect(b.retractions).toBe(1);
    expect(h.pages.freePages + (h.cache?.size ?? 0)).toBe(h.pages.totalPages);
    const passes = h.loop.passes;
    h.submit('late', prompt(4, 5), 3);
    await h.settle(10);
    expect(h.loop.passes).toBe(passes);
    const resumedAt = h.steps.length;
    expect(h.loop.continueGeneration()).toEqual({ success: true, message: 'continued' });
    await h.settle(80);
    expect(h.finished.get('a')).toEqual(expectedOutput(prompt(9), 30));
    expect(h.finished.get('b')).toEqual(expectedOutput(prompt(6, 2), 30));
    expect(h.finished.get('late')).toEqual(expectedOutput(prompt(4, 5), 3));
    // The recompute starts from the pages the prefix cache still holds.
    const recompute = h.steps[resumedAt]?.find((item) => item.id === 'a');
    expect(recompute?.cachedTokens).toBeGreaterThan(0);
    expect(h.pages.freePages + (h.cache?.size ?? 0)).toBe(h.pages.totalPages);
  });

  it('continue while a retract waits for the pass in flight cancels it: nothing is retracted', async () => {
    const h = start();
    const a = h.submit('a', prompt(5), 10);
    await h.settle(3);
    h.holdForward();
    await h.settle(3);
    const paused = h.loop.pauseGeneration('retract');
    expect(h.loop.continueGeneration().success).toBe(true);
    expect(await paused).toEqual({
      success: false,
      message: 'pause (retract) cancelled: cancelled by continueGeneration',
    });
    h.open();
    await h.settle();
    expect(a.retractions).toBe(0);
    expect(h.finished.get('a')).toEqual(expectedOutput(prompt(5), 10));
  });

  it('abort_all while retracted requests wait ends each of them, and the queued one, with an abort reply', async () => {
    const h = start();
    const a = h.submit('a', prompt(7), 20);
    h.submit('b', prompt(5, 3), 20);
    await h.settle(5);
    await h.loop.pauseGeneration('retract');
    const kept = a.outputTokens;
    expect(kept.length).toBeGreaterThan(0);
    h.submit('late', prompt(4, 5), 3);
    expect(h.scheduler.waiting.map((s) => s.id)).toEqual(['a', 'b', 'late']);
    expect(h.loop.abortAll()).toBe(3);
    const aborts = h.events.filter((e) => e.finishReason === 'abort');
    expect(aborts.map((e) => [e.seq.id, e.token])).toEqual([
      ['a', null],
      ['b', null],
      ['late', null],
    ]);
    // The reply carries the tokens produced before the retraction.
    expect(h.finished.get('a')).toEqual(kept);
    expect(kept).toEqual(expectedOutput(prompt(7), 20).slice(0, kept.length));
    expect(h.scheduler.hasWork).toBe(false);
    expect(h.pages.freePages + (h.cache?.size ?? 0)).toBe(h.pages.totalPages);
    const passes = h.loop.passes;
    h.loop.continueGeneration();
    await h.settle(5);
    expect(h.loop.passes).toBe(passes);
  });

  it('a retracted request can be aborted alone; pause(abort) then ends the retracted rest', async () => {
    const h = start();
    h.submit('a', prompt(7), 20);
    h.submit('b', prompt(5, 3), 20);
    await h.settle(5);
    await h.loop.pauseGeneration('retract');
    expect(h.loop.abort('a')).toBe(true);
    expect((await h.loop.pauseGeneration('abort')).success).toBe(true);
    const aborts = h.events.filter((e) => e.finishReason === 'abort').map((e) => e.seq.id);
    expect(aborts).toEqual(['a', 'b']);
    expect(h.scheduler.hasWork).toBe(false);
  });
});
