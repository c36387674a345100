/**
 * How `pauseGeneration` treats the requests in flight: `abort` ends them, `wait` lets them
 * finish, `keep` (SGLang's `in_place`) keeps them with their KV, `retract` puts them back in
 * the waiting queue and frees their KV (recomputed after continue).
 */
export type PauseMode = 'abort' | 'wait' | 'keep' | 'in_place' | 'retract';

/** What the scheduler is doing, as the pause controller sees it. */
export type PauseState = 'running' | 'draining' | 'paused';

/** Every control call answers with this; failures carry a message, never a throw. */
export interface ControlResult {
  success: boolean;
  message: string;
}

/** What a pending drain calls when it ends: exactly one of the two, exactly once. */
export interface DrainHandlers {
  onDrained(): void;
  onCancelled(reason: string): void;
}

/** What the scheduler loop reports about itself; read whenever a drain may have completed. */
export interface LoopProbe {
  /** Requests in the running batch (they hold KV and take part in forward passes). */
  runningRequests(): number;
  /** True while a forward pass is executing. */
  forwardInFlight(): boolean;
}

/** The result of `pause()`: what the scheduler must do now, besides the reply. */
export interface PauseResult extends ControlResult {
  /** `abort` mode: the scheduler ends every in-flight request now with finish reason `abort`. */
  abortRunning: boolean;
  /**
   * `retract` mode: once no forward pass runs (when the pause's `onDrained` is called, at
   * once when none runs), the scheduler puts every running request back at the front of the
   * waiting queue and frees its KV; the tokens it has produced stay its own.
   */
  retractRunning: boolean;
}

/**
 * The memory controller's handle on the pause controller. There is exactly one: it is the
 * only writer of the "released" flag (spec rule 6).
 */
export interface MemoryGate {
  /**
   * Stops admission and forward passes, and calls `onDrained` once no forward pass runs
   * (at once when none does). Fails if a release drain is already pending.
   */
  drainForRelease(handlers: DrainHandlers): ControlResult;
  /** Cancels a pending release drain; its `onCancelled` gets `reason`. */
  cancelReleaseDrain(reason: string): boolean;
  /**
   * Marks memory as released or awake. While released no forward pass runs and nothing is
   * admitted; `resume()` still clears the user's pause, which then takes effect at the wake.
   */
  setReleased(released: boolean): void;
}
