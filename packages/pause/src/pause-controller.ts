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
 * sleep/wake never forgets a pause the user asked for (spec rule 8). The loop asks
 * `mayAdmit()` and `mayRunForward()` every iteration and calls `tick()` between iterations.
 */
export class PauseController {
  private userMode: PauseMode | null = null;
  private readonly userDrain = new Drain();
  private readonly releaseDrain = new Drain();
  /** Set by a release drain, cleared only by `setReleased`: no forward pass in between. */
  private releaseHold = false;
  private released = false;
  private gateClaimed = false;

  constructor(private readonly probe: LoopProbe) {}

  /** `draining` while a drain is pending, `paused` while paused or released, else `running`. */
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

  /** May the loop run a forward pass (including an idle one)? Never while memory is released. */
  mayRunForward(): boolean {
    if (this.released || this.releaseHold) return false;
    return this.userMode === null || this.userDrain.active;
  }

  /**
   * The user's pause. `abort` and `keep` pause at once (`abort` tells the scheduler to end the
   * running requests); `wait` stops admission and calls `handlers.onDrained` once no request
   * runs. A new mode supersedes a pending `wait` drain, whose waiters are cancelled.
   */
  pause(mode: PauseMode, handlers?: DrainHandlers): PauseResult {
    if (this.userDrain.active && mode !== 'wait') {
      this.userDrain.cancel(`superseded by pause(${mode})`);
    }
    const alreadyWaited = this.userMode === 'wait' && !this.userDrain.active;
    this.userMode = mode;
    if (mode === 'wait') {
      if (alreadyWaited) handlers?.onDrained();
      else {
        this.userDrain.begin(handlers);
        this.tick();
      }
    }
    return { success: true, message: `paused (${mode})`, abortRunning: mode === 'abort' };
  }

  /** Ends the user's pause. Rejected while memory is released or a release is draining. */
  resume(): ControlResult {
    if (this.released) {
      return {
        success: false,
        message: 'memory is released: call resumeMemoryOccupation before continueGeneration',
      };
    }
    if (this.releaseHold) {
      return {
        success: false,
        message: 'a memory release is in progress: wait for it, then resume memory',
      };
    }
    const wasPaused = this.userMode !== null;
    this.userMode = null;
    this.userDrain.cancel('cancelled by continueGeneration');
    return { success: true, message: wasPaused ? 'continued' : 'already running' };
  }

  /** Completes every drain whose condition holds. The loop calls it between iterations. */
  tick(): void {
    if (this.probe.forwardInFlight()) return;
    if (this.releaseDrain.active) this.releaseDrain.complete();
    if (this.userDrain.active && this.probe.runningRequests() === 0) this.userDrain.complete();
  }

  /** Cancels every pending drain (shutdown). */
  cancelDrains(reason: string): void {
    this.userDrain.cancel(reason);
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
    releaseDrainPending: () => this.releaseDrain.active,
    setReleased: (released) => {
      this.released = released;
      this.releaseHold = false;
    },
  };
}
