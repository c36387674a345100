import { describe, expect, it, vi } from 'vitest';
import { gates, handlers, setup, userAndReleaseDraining } from './pause.test-helpers.js';

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
    expect(gates(pause)).toEqual({ state: 'draining', admit: false, forward: false });
    expect(gate.drainForRelease(handlers()).success).toBe(false);
    pause.tick();
    expect(h.drained).toBe(0);
    loop.forward = false;
    pause.tick();
    expect(h.drained).toBe(1);
    // Drained but not yet marked released: still no forward pass.
    expect(pause.mayRunForward()).toBe(false);
    gate.setReleased(true);
    expect(gates(pause)).toMatchObject({ state: 'paused', forward: false });
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
    expect(gates(pause)).toMatchObject({ state: 'running', forward: true });
  });

  it('rule 6: continue while released succeeds and clears the user pause; nothing runs until the wake', () => {
    const { pause } = setup(2);
    const gate = pause.claimMemoryGate();
    pause.pause('keep');
    gate.drainForRelease(handlers());
    gate.setReleased(true);
    expect(pause.resume()).toEqual({
      success: true,
      message: 'continued; memory is still released: nothing runs until every tag is resumed',
    });
    expect(pause.userPauseMode).toBeNull();
    expect(pause.isReleased).toBe(true);
    expect(gates(pause)).toEqual({ state: 'paused', admit: false, forward: false });
    expect(pause.resume().message).toBe(
      'not paused; memory is still released: nothing runs until every tag is resumed',
    );
    gate.setReleased(false);
    expect(gates(pause)).toEqual({ state: 'running', admit: true, forward: true });
  });

  it('rule 6: continue during a release drain succeeds, cancels the user drain; the release still completes', () => {
    const { loop, pause, gate, user, release } = userAndReleaseDraining();
    const reply = pause.resume();
    expect(reply.success).toBe(true);
    expect(reply.message).toMatch(/^continued; a memory release is in progress: nothing runs/);
    expect(user.cancelled).toEqual(['cancelled by continueGeneration']);
    expect(pause.userPauseMode).toBeNull();
    expect(gates(pause)).toMatchObject({ state: 'draining', forward: false });
    loop.forward = false;
    pause.tick();
    expect(release.drained).toBe(1);
    // Drained, memory being freed: continue still lets nothing run.
    expect(pause.resume().message).toMatch(/^not paused; a memory release is in progress/);
    expect(pause.mayRunForward()).toBe(false);
    gate.setReleased(true);
    expect(pause.mayRunForward()).toBe(false);
    gate.setReleased(false);
    expect(gates(pause)).toMatchObject({ state: 'running', forward: true });
  });

  it('retract while a release drains: both wait for the pass in flight; the retract pause outlives the wake', () => {
    const { loop, pause } = setup(2);
    const gate = pause.claimMemoryGate();
    const release = handlers();
    const retract = handlers();
    loop.forward = true;
    gate.drainForRelease(release);
    expect(pause.pause('retract', retract).retractRunning).toBe(true);
    expect(pause.state).toBe('draining');
    pause.tick();
    expect([release.drained, retract.drained]).toEqual([0, 0]);
    loop.forward = false;
    pause.tick();
    expect([release.drained, retract.drained]).toEqual([1, 1]);
    gate.setReleased(true);
    gate.setReleased(false);
    expect(pause.userPauseMode).toBe('retract');
    expect(gates(pause)).toMatchObject({ state: 'paused', forward: false });
  });

  it('rule 8: a pause the user set before a release (any mode) is there after the wake', () => {
    for (const mode of ['wait', 'keep', 'in_place', 'retract', 'abort'] as const) {
      const { pause } = setup();
      const gate = pause.claimMemoryGate();
      pause.pause(mode);
      gate.drainForRelease(handlers());
      gate.setReleased(true);
      gate.setReleased(false);
      expect(pause.userPauseMode).toBe(mode);
      expect(gates(pause)).toEqual({ state: 'paused', admit: false, forward: false });
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
