import { describe, expect, it } from 'vitest';
import { flush, harness } from './harness.test-helpers.js';

describe('continueGeneration against the memory controller (rules 6 and 8)', () => {
  it('rule 6: resume weights, continue, resume kv_cache: nothing runs until kv_cache is back, then the loop runs', async () => {
    const { pause, memory } = harness();
    pause.pause('retract');
    expect((await memory.release()).success).toBe(true);
    expect((await memory.resume(['weights'])).success).toBe(true);
    const reply = pause.resume();
    expect(reply).toEqual({
      success: true,
      message: 'continued; memory is still released: nothing runs until every tag is resumed',
    });
    expect(pause.userPauseMode).toBeNull();
    expect(memory.releasedTags).toEqual(['kv_cache', 'cuda_graph']);
    expect(pause.mayRunForward()).toBe(false);
    expect(pause.mayAdmit()).toBe(false);
    expect((await memory.resume(['kv_cache'])).success).toBe(true);
    expect(pause.mayRunForward()).toBe(false);
    expect((await memory.resume(['cuda_graph'])).success).toBe(true);
    expect(pause.state).toBe('running');
    expect(pause.mayRunForward()).toBe(true);
    expect(pause.mayAdmit()).toBe(true);
  });

  it('rule 6: continue during a release drain succeeds; the release still frees; the wake runs', async () => {
    const { loop, pause, saver, memory } = harness({ running: 1 });
    pause.pause('keep');
    loop.forward = true;
    const release = memory.release();
    await flush();
    const reply = pause.resume();
    expect(reply.success).toBe(true);
    expect(reply.message).toMatch(/a memory release is in progress: nothing runs/);
    expect(pause.mayRunForward()).toBe(false);
    loop.forward = false;
    pause.tick();
    expect((await release).success).toBe(true);
    expect(saver.pausedTags()).toEqual(['cuda_graph', 'kv_cache', 'weights']);
    expect(pause.mayRunForward()).toBe(false);
    expect((await memory.resume()).success).toBe(true);
    expect(pause.state).toBe('running');
  });

  it('rule 6 with rule 13: after continue, a failed resume keeps the loop still; the retry wakes it', async () => {
    const { pause, saver, memory } = harness();
    pause.pause('abort');
    await memory.release();
    pause.resume();
    saver.failNext('resume', 'kv_cache', new Error('CUDA_ERROR_OUT_OF_MEMORY'));
    expect((await memory.resume()).success).toBe(false);
    expect(pause.mayRunForward()).toBe(false);
    expect((await memory.resume()).success).toBe(true);
    expect(pause.mayRunForward()).toBe(true);
  });

  it('rule 8: a pause that was not cleared is there after the wake, in every mode', async () => {
    for (const mode of ['abort', 'wait', 'keep', 'in_place', 'retract'] as const) {
      const { pause, memory } = harness();
      pause.pause(mode);
      await memory.release(['kv_cache']);
      await memory.resume();
      expect(pause.userPauseMode).toBe(mode);
      expect(pause.state).toBe('paused');
      expect(pause.mayAdmit()).toBe(false);
      expect(pause.mayRunForward()).toBe(false);
    }
  });
});
