import type { DrainHandlers } from './types.js';

/** One pending drain and the callers waiting for it; settled once, all together. */
export class Drain {
  private waiters: DrainHandlers[] = [];
  private isActive = false;

  get active(): boolean {
    return this.isActive;
  }

  /** Starts the drain (if not started) and adds a waiter, if given. */
  begin(handlers?: DrainHandlers): void {
    this.isActive = true;
    if (handlers) this.waiters.push(handlers);
  }

  complete(): void {
    for (const waiter of this.end()) waiter.onDrained();
  }

  cancel(reason: string): void {
    for (const waiter of this.end()) waiter.onCancelled(reason);
  }

  private end(): DrainHandlers[] {
    const waiters = this.waiters;
    this.waiters = [];
    this.isActive = false;
    return waiters;
  }
}
