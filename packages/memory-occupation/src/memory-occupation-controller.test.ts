import { describe, expect, it } from 'vitest';
import { flush, harness } from './harness.test-helpers.js';

describe('MemoryOccupationController: the sleep/wake rules', () => {
  it('rule 1: release waits for the running forward pass, then frees; reply after the memory is free', async () => {
    const { loop, pause, saver, memory } = harness();
    loop.forward = true;
    let settled = false;
    const pending = memory.release().then((r) => {
      settled = true;
      return r;
    });
    await flush();
    expect(settled).toBe(false);
    expect(saver.pausedTags()).toEqual([]);
    expect(pause.mayRunForward()).toBe(false);
    loop.forward = false;
    pause.tick();
    const reply = await pending;
    expect(reply).toMatchObject({
      success: true,
      releasedTags: ['weights', 'kv_cache', 'cuda_graph'],
    });
    expect(reply.freedBytes).toBe(192);
    expect(saver.pausedTags()).toEqual(['cuda_graph', 'kv_cache', 'weights']);
    expect(saver.synchronizations).toBe(1);
    expect(pause.isReleased).toBe(true);
  });

  it('rule 1: a cancelled drain replies failure and frees nothing', async () => {
    const { loop, pause, saver, memory } = harness();
    loop.forward = true;
    const pending = memory.release(['weights']);
    await flush();
    pause.cancelDrains('shutting down');
    const reply = await pending;
    expect(reply.success).toBe(false);
    expect(reply.message).toMatch(/nothing freed: shutting down/);
    expect(saver.pausedTags()).toEqual([]);
    expect(pause.isReleased).toBe(false);
    expect(pause.mayRunForward()).toBe(true);
  });

  it('rule 2: unknown tags fail listing the valid ones; an empty list fails and never arms a drain', async () => {
    const { pause, saver, memory } = harness();
    const unknown = await memory.release(['weights', 'kv']);
    expect(unknown.success).toBe(false);
    expect(unknown.message).toBe('unknown tags: [kv]; valid tags: [weights, kv_cache, cuda_graph]');
    const empty = await memory.release([]);
    expect(empty.success).toBe(false);
    expect(empty.message).toMatch(/empty/);
    expect(empty.message).toMatch(/valid tags/);
    expect(pause.state).toBe('running');
    expect(saver.calls).toEqual([]);
    expect((await memory.resume([])).message).toMatch(/empty/);
    expect((await memory.resume(['nope'])).message).toMatch(/unknown tags: \[nope\]/);
  });

  it('rule 2: a tag that holds nothing is valid and cheap to release', async () => {
    const { memory, saver } = harness();
    const reply = await memory.release(['cuda_graph']);
    expect(reply).toMatchObject({ success: true, freedBytes: 0, releasedTags: ['cuda_graph'] });
    expect(saver.isPaused('cuda_graph')).toBe(true);
  });

  it('rule 3: no double release and no resume of what is awake; a failed call changes nothing', async () => {
    const { memory, saver, pause } = harness();
    await memory.release(['weights']);
    const calls = saver.calls.length;
    const again = await memory.release(['weights', 'kv_cache']);
    expect(again).toMatchObject({ success: false, message: 'tags already released: [weights]' });
    const allAgain = await memory.release();
    expect(allAgain.success).toBe(false);
    const awake = await memory.resume(['kv_cache', 'weights']);
    expect(awake).toMatchObject({ success: false, message: 'tags not released: [kv_cache]' });
    expect(saver.calls.length).toBe(calls);
    expect(memory.releasedTags).toEqual(['weights']);
    expect(pause.isReleased).toBe(true);
  });

  it('rule 4: the default resume wakes exactly the released tags, so a partial release round-trips', async () => {
    const { memory, saver, pause } = harness();
    await memory.release(['weights']);
    const reply = await memory.resume();
    expect(reply).toMatchObject({ success: true, resumedTags: ['weights'], releasedTags: [] });
    expect(saver.calls).toEqual(['pause:weights', 'resume:weights']);
    expect(Array.from(saver.view('weights').subarray(0, 4))).toEqual([1, 2, 3, 4]);
    expect(pause.isReleased).toBe(false);
  });

  it('rule 5: a resume with nothing released succeeds and leaves the pause state as it was', async () => {
    const { memory, pause, saver } = harness();
    pause.pause('keep');
    const reply = await memory.resume();
    expect(reply).toMatchObject({ success: true, message: 'nothing is released', resumedTags: [] });
    expect(pause.userPauseMode).toBe('keep');
    expect(pause.state).toBe('paused');
    expect(saver.calls).toEqual([]);
  });

  it('rule 7: a resume while a release drains is rejected, and the release still completes', async () => {
    const { loop, pause, saver, memory } = harness();
    loop.forward = true;
    const release = memory.release();
    await flush();
    const resume = await memory.resume();
    expect(resume.success).toBe(false);
    expect(resume.message).toMatch(/release is in progress/);
    const release2 = await memory.release(['weights']);
    expect(release2.success).toBe(false);
    loop.forward = false;
    pause.tick();
    expect((await release).success).toBe(true);
    expect(saver.pausedTags()).toHaveLength(3);
  });

  it('rule 7: a release or resume while a resume runs is rejected', async () => {
    const { memory, saver } = harness();
    await memory.release(['weights']);
    let finish: () => void = () => {};
    const original = saver.resume.bind(saver);
    const slowResume = (tag: string) =>
      new Promise<void>((resolve) => {
        finish = () => {
          original(tag);
          resolve();
        };
      });
    saver.resume = slowResume as unknown as (tag: string) => void;
    const resuming = memory.resume();
    await flush();
    expect((await memory.resume()).message).toMatch(/resume is in progress/);
    expect((await memory.release(['kv_cache'])).message).toMatch(/resume is in progress/);
    finish();
    expect((await resuming).success).toBe(true);
  });

  it('rule 9: releasing kv_cache resets the prefix cache after retracting requests; weights alone do not', async () => {
    const { memory, prefixCache, events } = harness();
    await memory.release(['weights']);
    expect(prefixCache.resets).toBe(0);
    expect(events).toEqual([]);
    await memory.release(['kv_cache']);
    expect(prefixCache.resets).toBe(1);
    expect(events).toEqual(['retract']);
  });

  it('rule 9: without a resettable prefix cache a kv_cache release fails closed and frees nothing', async () => {
    const { memory, saver, pause } = harness({ prefixCache: null });
    const reply = await memory.release();
    expect(reply.success).toBe(false);
    expect(reply.message).toMatch(/prefix cache cannot be reset/);
    expect(saver.calls).toEqual([]);
    expect(pause.state).toBe('running');
    expect((await memory.release(['weights'])).success).toBe(true);
  });

  it('rule 10: resuming kv_cache zeroes every KV pool, the draft pool too, before it replies', async () => {
    const { memory, cleared } = harness();
    await memory.release();
    const weightsOnly = await memory.resume(['weights']);
    expect(weightsOnly.repairedPools).toEqual([]);
    expect(weightsOnly.message).toBe(
      'resumed [weights]; still released: [kv_cache, cuda_graph] (no forward pass runs until every tag is back)',
    );
    const reply = await memory.resume(['kv_cache']);
    expect(reply.repairedPools).toEqual(['target', 'draft']);
    expect(cleared).toEqual(['target', 'draft']);
  });

  it('rule 13: a failed resume leaves the tags released with their backups, and a retry succeeds', async () => {
    const { memory, saver, pause } = harness();
    await memory.release();
    saver.failNext('resume', 'kv_cache', new Error('CUDA_ERROR_OUT_OF_MEMORY'));
    const failed = await memory.resume();
    expect(failed.success).toBe(false);
    expect(failed.message).toMatch(/OUT_OF_MEMORY/);
    expect(failed.releasedTags).toEqual(['weights', 'kv_cache', 'cuda_graph']);
    expect(saver.pausedTags()).toEqual(['cuda_graph', 'kv_cache', 'weights']);
    expect(pause.isReleased).toBe(true);
    expect(pause.mayRunForward()).toBe(false);
    const retry = await memory.resume();
    expect(retry.success).toBe(true);
    expect(Array.from(saver.view('weights').subarray(0, 4))).toEqual([1, 2, 3, 4]);
    expect(pause.isReleased).toBe(false);
  });

  it('rule 13: a failed KV repair rolls the resume back too', async () => {
    const { memory, kvPools, saver } = harness();
    kvPools.push({
      name: 'broken',
      repair: () => {
        throw new Error('memset failed');
      },
    });
    await memory.release(['kv_cache']);
    const failed = await memory.resume();
    expect(failed.success).toBe(false);
    expect(failed.message).toMatch(/memset failed/);
    expect(saver.isPaused('kv_cache')).toBe(true);
  });

  it('a rollback that cannot pause again reports the tag that is awake', async () => {
    const { memory, saver, pause } = harness();
    await memory.release();
    saver.failNext('resume', 'kv_cache');
    saver.failNext('pause', 'weights', new Error('unmap failed'));
    const failed = await memory.resume();
    expect(failed.message).toMatch(/weights \(unmap failed\)/);
    expect(failed.releasedTags).toEqual(['kv_cache', 'cuda_graph']);
    expect(pause.isReleased).toBe(true);
  });

  it('a release whose saver fails part-way reports what it freed and keeps it released', async () => {
    const { memory, saver, pause } = harness();
    saver.failNext('pause', 'kv_cache', new Error('sync failed'));
    const failed = await memory.release();
    expect(failed.success).toBe(false);
    expect(failed.message).toBe('release failed after freeing [weights]: sync failed');
    expect(failed.releasedTags).toEqual(['weights']);
    expect(pause.isReleased).toBe(true);
    expect((await memory.resume()).success).toBe(true);
    expect(pause.isReleased).toBe(false);
    saver.failNext('pause', 'weights');
    expect((await memory.release()).releasedTags).toEqual([]);
    expect(pause.isReleased).toBe(false);
    expect(pause.mayRunForward()).toBe(true);
  });

  it('isSleeping reports the released tags and the bytes each tag holds', async () => {
    const { memory } = harness();
    expect(memory.isSleeping()).toMatchObject({
      isSleeping: false,
      message: 'awake',
      releasedTags: [],
    });
    await memory.release(['kv_cache']);
    expect(memory.isSleeping()).toMatchObject({
      success: true,
      isSleeping: true,
      releasedTags: ['kv_cache'],
      residentBytes: { weights: 64, kv_cache: 0, cuda_graph: 0 },
    });
  });
});
