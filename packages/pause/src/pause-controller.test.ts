import { describe, expect, it, vi } from 'vitest';
import { PauseController } from './pause-controller.js';
import type { DrainHandlers } from './types.js';

function setup(running = 0) {
  const loop = { running, forward: false };
  const pause = new PauseController({
    runningRequests: () => loop.running,
    forwardInFlight: () => loop.forward,
  });
  return { loop, pause };
}

function handlers(): DrainHandlers & { drained: number; cancelled: string[] } {
  const h = {
    drained: 0,
    cancelled: [] as string[],
    onDrained: () => {
      h.drained += 1;
    },
    onCancelled: (reason: string) => {
      h.cancelled.push(reason);
    },
  };
  return h;
}

describe('PauseController: user pause modes', () => {
  it('runs, admits and forwards by default', () => {
    const { pause } = setup();
    expect(pause.state).toBe('running');
    expect(pause.mayAdmit()).toBe(true);
    expect(pause.mayRunForward()).toBe(true);
    expect(pause.userPauseMode).toBeNull();
  });

  it('abort pauses at once and tells the scheduler to end running requests', () => {
    const { pause } = setup(3);
    const result = pause.pause('abort');
    expect(result).toMatchObject({ success: true, abortRunning: true });
    expect(pause.state).toBe('paused');
    expect(pause.mayAdmit()).toBe(false);
    expect(pause.mayRunForward()).toBe(false);
  });

  it('keep pauses at once and keeps running requests', () => {
    const { pause } = setup(3);
    expect(pause.pause('keep')).toMatchObject({ success: true, abortRunning: false });
    expect(pause.state).toBe('paused');
    expect(pause.mayRunForward()).toBe(false);
    expect(pause.resume()).toMatchObject({ success: true, message: 'continued' });
    expect(pause.mayRunForward()).toBe(true);
  });

  it('wait drains: forwards continue, admission stops, the reply comes when no request runs', () => {
    const { loop, pause } = setup(2);
    const h = handlers();
    pause.pause('wait', h);
    expect(pause.state).toBe('draining');
    expect(pause.mayAdmit()).toBe(false);
    expect(pause.mayRunForward()).toBe(true);
    pause.tick();
    expect(h.drained).toBe(0);
    loop.running = 0;
    loop.forward = true;
    pause.tick();
    expect(h.drained).toBe(0);
    loop.forward = false;
    pause.tick();
    expect(h.drained).toBe(1);
    expect(pause.state).toBe('paused');
    expect(pause.mayRunForward()).toBe(false);
  });

  it('wait resolves at once when nothing runs, and again at once when already drained', () => {
    const { pause } = setup(0);
    const first = handlers();
    pause.pause('wait', first);
    expect(first.drained).toBe(1);
    const second = handlers();
    pause.pause('wait', second);
    expect(second.drained).toBe(1);
  });

  it('a later mode supersedes a pending wait drain, whose waiters are cancelled', () => {
    const { pause } = setup(1);
    const h = handlers();
    pause.pause('wait', h);
    pause.pause('keep');
    expect(h.cancelled).toEqual(['superseded by pause(keep)']);
    expect(pause.state).toBe('paused');
  });

  it('continue cancels a pending wait drain and answers when already running', () => {
    const { pause } = setup(1);
    expect(pause.resume().message).toBe('already running');
    const h = handlers();
    pause.pause('wait', h);
    expect(pause.resume().success).toBe(true);
    expect(h.cancelled).toEqual(['cancelled by continueGeneration']);
    expect(pause.state).toBe('running');
  });

  it('cancelDrains cancels user and release drains', () => {
    const { loop, pause } = setup(1);
    const gate = pause.claimMemoryGate();
    const user = handlers();
    const release = handlers();
    loop.forward = true;
    pause.pause('wait', user);
    gate.drainForRelease(release);
    pause.cancelDrains('shutdown');
    expect(user.cancelled).toEqual(['shutdown']);
    expect(release.cancelled).toEqual(['shutdown']);
    expect(pause.state).toBe('paused');
  });
});

describe('PauseController: the memory gate', () => {
  it('has exactly one owner', () => {
    const { pause } = setup();
    pause.claimMemoryGate();
    expect(() => pause.claimMemoryGate()).toThrow(/already claimed/);
  });

  it('rule 1: a release drain stops forwards at once and completes only when no forward runs', () => {
    const { loop, pause } = setup(2);
    const gate = pause.claimMemoryGate();
    const h = handlers();
    loop.forward = true;
    expect(gate.drainForRelease(h).success).toBe(true);
    expect(pause.mayRunForward()).toBe(false);
    expect(pause.mayAdmit()).toBe(false);
    expect(gate.releaseDrainPending()).toBe(true);
    expect(gate.drainForRelease(handlers()).success).toBe(false);
    pause.tick();
    expect(h.drained).toBe(0);
    loop.forward = false;
    pause.tick();
    expect(h.drained).toBe(1);
    // Drained but not yet marked released: still no forward pass.
    expect(pause.mayRunForward()).toBe(false);
    gate.setReleased(true);
    expect(pause.mayRunForward()).toBe(false);
    expect(pause.state).toBe('paused');
  });

  it('rule 1: a cancelled release drain lifts its hold', () => {
    const { loop, pause } = setup();
    const gate = pause.claimMemoryGate();
    const h = handlers();
    loop.forward = true;
    gate.drainForRelease(h);
    expect(gate.cancelReleaseDrain('cancelled')).toBe(true);
    expect(gate.cancelReleaseDrain('again')).toBe(false);
    expect(h.cancelled).toEqual(['cancelled']);
    expect(pause.mayRunForward()).toBe(true);
    expect(pause.state).toBe('running');
  });

  it('rule 6: continueGeneration is rejected while memory is released, and while a release drains', () => {
    const { loop, pause } = setup();
    const gate = pause.claimMemoryGate();
    loop.forward = true;
    gate.drainForRelease(handlers());
    const draining = pause.resume();
    expect(draining.success).toBe(false);
    expect(draining.message).toMatch(/release is in progress/);
    loop.forward = false;
    pause.tick();
    gate.setReleased(true);
    const released = pause.resume();
    expect(released.success).toBe(false);
    expect(released.message).toMatch(/resumeMemoryOccupation/);
    expect(pause.mayRunForward()).toBe(false);
    expect(pause.isReleased).toBe(true);
    gate.setReleased(false);
    expect(pause.mayRunForward()).toBe(true);
  });

  it('rule 8: a pause the user set before a release is there after the wake', () => {
    for (const mode of ['wait', 'keep', 'abort'] as const) {
      const { pause } = setup();
      const gate = pause.claimMemoryGate();
      pause.pause(mode);
      gate.drainForRelease(handlers());
      gate.setReleased(true);
      gate.setReleased(false);
      expect(pause.userPauseMode).toBe(mode);
      expect(pause.state).toBe('paused');
      expect(pause.mayAdmit()).toBe(false);
      expect(pause.mayRunForward()).toBe(false);
    }
  });

  it('rule 8: a user wait drain pending across a release completes after it', () => {
    const { loop, pause } = setup(1);
    const gate = pause.claimMemoryGate();
    const user = handlers();
    pause.pause('wait', user);
    gate.drainForRelease(handlers());
    gate.setReleased(true);
    expect(pause.mayRunForward()).toBe(false);
    gate.setReleased(false);
    expect(pause.mayRunForward()).toBe(true);
    loop.running = 0;
    pause.tick();
    expect(user.drained).toBe(1);
    expect(pause.state).toBe('paused');
  });

  it('a pause the user asks for while memory is released is kept, never lifts the release', () => {
    const { pause } = setup();
    const gate = pause.claimMemoryGate();
    gate.drainForRelease(handlers());
    gate.setReleased(true);
    const onDrained = vi.fn();
    pause.pause('wait', { onDrained, onCancelled: () => {} });
    expect(onDrained).toHaveBeenCalledOnce();
    expect(pause.mayRunForward()).toBe(false);
    expect(pause.isReleased).toBe(true);
  });
});
