import { describe, expect, it } from 'vitest';
import { gates, handlers, setup, userAndReleaseDraining } from './pause.test-helpers.js';

describe('PauseController: user pause modes', () => {
  it('runs, admits and forwards by default', () => {
    const { pause } = setup();
    expect(gates(pause)).toEqual({ state: 'running', admit: true, forward: true });
    expect(pause.userPauseMode).toBeNull();
  });

  it('abort pauses at once and tells the scheduler to end running requests', () => {
    const { pause } = setup(3);
    const result = pause.pause('abort');
    expect(result).toMatchObject({ success: true, abortRunning: true });
    expect(gates(pause)).toEqual({ state: 'paused', admit: false, forward: false });
  });

  it('keep pauses at once and keeps running requests', () => {
    const { pause } = setup(3);
    expect(pause.pause('keep')).toMatchObject({ success: true, abortRunning: false });
    expect(gates(pause)).toMatchObject({ state: 'paused', forward: false });
    expect(pause.resume()).toMatchObject({ success: true, message: 'continued' });
    expect(pause.mayRunForward()).toBe(true);
  });

  it('in_place is keep under its SGLang name: paused at once, requests kept, the reply names it', () => {
    const { pause } = setup(3);
    expect(pause.pause('in_place')).toEqual({
      success: true,
      message: 'paused (in_place)',
      abortRunning: false,
      retractRunning: false,
    });
    expect(pause.userPauseMode).toBe('in_place');
    expect(gates(pause)).toEqual({ state: 'paused', admit: false, forward: false });
    expect(pause.resume()).toEqual({ success: true, message: 'continued' });
    expect(gates(pause)).toMatchObject({ state: 'running', forward: true });
  });

  it('only abort tells the scheduler to abort, only retract to retract', () => {
    for (const mode of ['abort', 'wait', 'keep', 'in_place', 'retract'] as const) {
      const result = setup(1).pause.pause(mode);
      expect([mode, result.abortRunning, result.retractRunning]).toEqual([
        mode,
        mode === 'abort',
        mode === 'retract',
      ]);
    }
  });

  it('retract with no forward pass in flight: drained at once, the scheduler retracts now', () => {
    const { pause } = setup(3);
    const h = handlers();
    const result = pause.pause('retract', h);
    expect(result).toMatchObject({ success: true, message: 'paused (retract)' });
    expect(result.retractRunning).toBe(true);
    expect(h.drained).toBe(1);
    expect(gates(pause)).toEqual({ state: 'paused', admit: false, forward: false });
  });

  it('retract while a forward pass runs: no new pass, drained when that one ends, running or not', () => {
    const { loop, pause } = setup(2);
    loop.forward = true;
    const h = handlers();
    pause.pause('retract', h);
    expect(gates(pause)).toEqual({ state: 'draining', admit: false, forward: false });
    pause.tick();
    expect(h.drained).toBe(0);
    loop.forward = false;
    pause.tick();
    expect(h.drained).toBe(1);
    expect(loop.running).toBe(2);
    expect(pause.state).toBe('paused');
    pause.tick();
    expect(h.drained).toBe(1);
  });

  it('retract and wait supersede each other; the same mode joins the pending drain', () => {
    const { loop, pause } = setup(1);
    loop.forward = true;
    const wait = handlers();
    const retract = handlers();
    const again = handlers();
    pause.pause('wait', wait);
    pause.pause('retract', retract);
    expect(wait.cancelled).toEqual(['superseded by pause(retract)']);
    pause.pause('retract', again);
    expect(retract.cancelled).toEqual([]);
    loop.forward = false;
    pause.tick();
    expect([retract.drained, again.drained]).toEqual([1, 1]);
    loop.forward = true;
    const next = handlers();
    pause.pause('retract', next);
    const waitAgain = handlers();
    pause.pause('wait', waitAgain);
    expect(next.cancelled).toEqual(['superseded by pause(wait)']);
    expect(pause.mayRunForward()).toBe(true);
    expect(waitAgain.drained).toBe(0);
  });

  it('continue cancels a pending retract drain, and the loop runs again', () => {
    const { loop, pause } = setup(1);
    loop.forward = true;
    const h = handlers();
    pause.pause('retract', h);
    expect(pause.resume()).toEqual({ success: true, message: 'continued' });
    expect(h.cancelled).toEqual(['cancelled by continueGeneration']);
    loop.forward = false;
    pause.tick();
    expect(h.drained).toBe(0);
    expect(gates(pause)).toMatchObject({ state: 'running', forward: true });
  });

  it('wait drains: forwards continue, admission stops, the reply comes when no request runs', () => {
    const { loop, pause } = setup(2);
    const h = handlers();
    pause.pause('wait', h);
    expect(gates(pause)).toEqual({ state: 'draining', admit: false, forward: true });
    pause.tick();
    expect(h.drained).toBe(0);
    loop.running = 0;
    loop.forward = true;
    pause.tick();
    expect(h.drained).toBe(0);
    loop.forward = false;
    pause.tick();
    expect(h.drained).toBe(1);
    expect(gates(pause)).toMatchObject({ state: 'paused', forward: false });
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
    const { pause, user, release } = userAndReleaseDraining();
    pause.cancelDrains('shutdown');
    expect(user.cancelled).toEqual(['shutdown']);
    expect(release.cancelled).toEqual(['shutdown']);
    expect(pause.state).toBe('paused');
  });
});

describe('PauseController: weight writers hold forward passes off', () => {
  it('hold() stops forward passes until released (twice is harmless), the state untouched', () => {
    const { pause } = setup();
    const release = pause.hold();
    const other = pause.hold();
    expect(gates(pause)).toMatchObject({ state: 'running', forward: false });
    release();
    release();
    expect(pause.mayRunForward()).toBe(false);
    other();
    expect(pause.mayRunForward()).toBe(true);
  });

  it('exclusive() runs once the forward pass in flight ends, none starting until it is done', async () => {
    const { loop, pause } = setup(2);
    loop.forward = true;
    const order: string[] = [];
    const done = pause.exclusive(async () => {
      order.push(`write (forward ${loop.forward}, may run ${pause.mayRunForward()})`);
      return 7;
    });
    await Promise.resolve();
    expect(order).toEqual([]);
    expect(pause.mayRunForward()).toBe(false);
    loop.forward = false;
    pause.tick();
    expect(await done).toBe(7);
    expect(order).toEqual(['write (forward false, may run false)']);
    expect(pause.mayRunForward()).toBe(true);
  });

  it('exclusive() keeps the user pause and lets go when the write throws or the loop stops', async () => {
    const { loop, pause } = setup();
    pause.pause('keep');
    await expect(pause.exclusive(() => Promise.reject(new Error('bad tensor')))).rejects.toThrow(
      'bad tensor',
    );
    expect(pause.userPauseMode).toBe('keep');
    pause.resume();
    expect(pause.mayRunForward()).toBe(true);
    loop.forward = true;
    const waiting = pause.exclusive(async () => 1);
    pause.cancelDrains('the engine is shutting down');
    await expect(waiting).rejects.toThrow('the engine is shutting down');
    expect(pause.mayRunForward()).toBe(true);
  });
});
