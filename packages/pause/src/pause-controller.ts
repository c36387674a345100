import { Drain } from './drain.js';
import type {
  ControlResult,
  DrainHandlers,
  LoopProbe,
  MemoryGate,
  PauseMode,
  PauseResult,
  PauseState,
} from './types.js';

/**
 * The scheduler's pause state machine. The user's pause (`pause` / `resume`) and the memory
 * controller's release (through the one `MemoryGate`) are kept apart, so a memory
 * sleep/wake never forgets a pause the user asked for (spec rule 8), and a continue while
 * memory is released clears the user's pause without letting anything run (rule 6). Weight
 * writers hold forward passes off through the same gate (`hold`, `exclusive`). The loop asks
 * `mayAdmit()` and `mayRunForward()` every iteration and calls `tick()` between them.
 */
export class PauseController {
  private userMode: PauseMode | null = null;
  private readonly userDrain = new Drain();
  private readonly releaseDrain = new Drain();
  /** Set by a release drain, cleared only by `setReleased`: no forward pass in between. */
  private releaseHold = false;
  private released = false;
  private gateClaimed = false;
  /** Weight writers holding forward passes off (an update call, an update session). */
  private holds = 0;
  private readonly holdDrain = new Drain();

  constructor(private readonly probe: LoopProbe) {}

  /**
   * `draining` while a drain (release, `wait` or `retract`) is pending, `paused` while paused
   * or released, else `running`.
   */
  get state(): PauseState {
    if (this.userDrain.active || this.releaseDrain.active) return 'draining';
    if (this.userMode !== null || this.released || this.releaseHold) return 'paused';
    return 'running';
  }

  /** The user's own pause mode, or null when the user has not paused. */
  get userPauseMode(): PauseMode | null {
    return this.userMode;
  }

  /** True while the memory controller has memory released. */
  get isReleased(): boolean {
    return this.released;
  }

  /** May the loop move requests from the waiting queue into the running batch? */
  mayAdmit(): boolean {
    return this.state === 'running';
  }

  /**
   * May the loop run a forward pass (including an idle one)? Never while memory is released
   * or a weight writer holds them off.
   */
  mayRunForward(): boolean {
    if (this.released || this.releaseHold || this.holds > 0) return false;
    return this.userMode === null || (this.userMode === 'wait' && this.userDrain.active);
  }

  /**
   * The user's pause; no admission from now on. `abort`, `keep` and `in_place` pause at once
   * (`abort` tells the scheduler to end the running requests). `wait` lets forward passes go
   * on and calls `handlers.onDrained` once no request runs; `retract` runs no new forward pass
   * and calls it once none is in flight, when the scheduler must retract the running requests.
   * A different mode supersedes a pending drain, whose waiters are cancelled; the same mode
   * joins it.
   */
  pause(mode: PauseMode, handlers?: DrainHandlers): PauseResult {
    if (this.userDrain.active && mode !== this.userMode) {
      this.userDrain.cancel(`superseded by pause(${mode})`);
    }
    const alreadyWaited = mode === 'wait' && this.userMode === 'wait' && !this.userDrain.active;
    this.userMode = mode;
    if (alreadyWaited) handlers?.onDrained();
    else if (mode === 'wait' || mode === 'retract') {
      this.userDrain.begin(handlers);
      this.tick();
    }
    return {
      success: true,
      message: `paused (${mode})`,
      abortRunning: mode === 'abort',
      retractRunning: mode === 'retract',
    };
  }

  /**
   * Ends the user's pause (cancelling a pending `wait` or `retract` drain). Always succeeds.
   * While memory is released or a release is in progress nothing runs still, until every tag
   * is resumed (spec rule 6); the message says so. Only the memory gate lifts that.
   */
  resume(): ControlResult {
    const wasPaused = this.userMode !== null;
    this.userMode = null;
    this.userDrain.cancel('cancelled by continueGeneration');
    if (this.released) {
      return {
        success: true,
        message: `${wasPaused ? 'continued' : 'not paused'}; memory is still released: nothing runs until every tag is resumed`,
      };
    }
    if (this.releaseHold) {
      return {
        success: true,
        message: `${wasPaused ? 'continued' : 'not paused'}; a memory release is in progress: nothing runs until it ends and every tag is resumed`,
      };
    }
    return { success: true, message: wasPaused ? 'continued' : 'already running' };
  }

  /**
   * Holds forward passes off until the returned release is called (SGLang's weight-update
   * session): none starts in between; the one in flight, if any, ends as it would. The user's
   * pause and the memory state are untouched.
   */
  hold(): () => void {
    this.holds += 1;
    let held = true;
    return () => {
      if (held) this.holds -= 1;
      held = false;
    };
  }

  /**
   * Runs `fn` (a weight write) with no forward pass in flight and none starting until it
   * ends, then lets them go on as before; the loop must `tick()` after a pass ends.
   */
  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const release = this.hold();
    try {
      await new Promise<void>((onDrained, onCancelled) => {
        this.holdDrain.begin({ onDrained, onCancelled: (why) => onCancelled(new Error(why)) });
        this.tick();
      });
      return await fn();
    } finally {
      release();
    }
  }

  /** Completes every drain whose condition holds. The loop calls it between iterations. */
  tick(): void {
    if (this.probe.forwardInFlight()) return;
    if (this.holdDrain.active) this.holdDrain.complete();
    if (this.releaseDrain.active) this.releaseDrain.complete();
    if (!this.userDrain.active) return;
    if (this.userMode === 'retract' || this.probe.runningRequests() === 0)
      this.userDrain.complete();
  }

  /** Cancels every pending drain (shutdown). */
  cancelDrains(reason: string): void {
    this.userDrain.cancel(reason);
    this.holdDrain.cancel(reason);
    if (this.releaseDrain.active) this.gate.cancelReleaseDrain(reason);
  }

  /** The one handle that may write the released flag. A second claim throws. */
  claimMemoryGate(): MemoryGate {
    if (this.gateClaimed) throw new Error('the memory gate has one owner and is already claimed');
    this.gateClaimed = true;
    return this.gate;
  }

  private readonly gate: MemoryGate = {
    drainForRelease: (handlers) => {
      if (this.releaseDrain.active) {
        return { success: false, message: 'a release drain is already pending' };
      }
      this.releaseHold = true;
      this.releaseDrain.begin(handlers);
      this.tick();
      return { success: true, message: 'draining' };
    },
    cancelReleaseDrain: (reason) => {
      if (!this.releaseDrain.active) return false;
      this.releaseHold = false;
      this.releaseDrain.cancel(reason);
      return true;
    },
    setReleased: (released) => {
      this.released = released;
      this.releaseHold = false;
    },
  };
}
