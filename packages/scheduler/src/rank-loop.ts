import type {
  KvPoolRegistry,
  MemorySaver,
  ReleaseReply,
  ResumeReply,
  SleepStatus,
} from '@ts/memory-occupation';
import { MemoryOccupationController } from '@ts/memory-occupation';
import type { ControlResult, PauseMode } from '@ts/pause';
import { PauseController } from '@ts/pause';
import type { PrefixCache } from './prefix-cache.js';
import type { AdvancedStep, Scheduler, StepItem, TokenEvent } from './scheduler.js';
import type { Sequence } from './sequence.js';
import {
  isOverlapped,
  isTokenList,
  type LaunchedStep,
  type OverlappedExecutor,
  type SampledStep,
  type StepExecutor,
} from './step-executor.js';
import { addStep, emptyStepStats, type StepStats } from './step-stats.js';

export type {
  LaunchedStep,
  OverlappedExecutor,
  SampledStep,
  StepExecutor,
} from './step-executor.js';

/** A launched pass not yet collected, and how long its launch took. */
interface PassInFlight {
  step: AdvancedStep;
  launched: LaunchedStep;
  launchMs: number;
}

export type LoopEvent =
  | TokenEvent
  | { seq: Sequence; token: null; finishReason: 'abort'; error?: string };

export interface RankLoopOptions {
  scheduler: Scheduler;
  executor: StepExecutor;
  saver: MemorySaver;
  kvPools: KvPoolRegistry;
  prefixCache: PrefixCache | null;
  tags?: readonly string[];
  onEvent(event: LoopEvent): void;
}

/**
 * The loop of one data-parallel rank: schedule → run → postprocess, with control messages
 * (pause, continue, release, resume, flush) handled between iterations. No forward pass runs
 * while memory is released or a release is draining (spec rules 1 and 11).
 */
export class RankLoop {
  readonly pause: PauseController;
  readonly memory: MemoryOccupationController;
  private readonly scheduler: Scheduler;
  private forwardInFlight = false;
  /** With an overlapped executor: the pass launched last, collected after the next launches. */
  private inFlight: PassInFlight | null = null;
  /** Lets forward passes go again: set while a weight-update session is open. */
  private endUpdateSession: (() => void) | null = null;
  private stopped = false;
  private wakeUp: (() => void) | null = null;
  private forwardPasses = 0;
  private readonly steps: StepStats = emptyStepStats();

  constructor(private readonly options: RankLoopOptions) {
    const scheduler = options.scheduler;
    this.scheduler = scheduler;
    this.pause = new PauseController({
      runningRequests: () => scheduler.running.length,
      forwardInFlight: () => this.forwardInFlight,
    });
    const cache = options.prefixCache;
    this.memory = new MemoryOccupationController(this.pause.claimMemoryGate(), {
      saver: options.saver,
      ...(options.tags ? { tags: options.tags } : {}),
      kvPools: options.kvPools,
      prefixCache: { reset: () => cache?.reset() },
      beforeKvRelease: () => scheduler.retractAll(),
    });
  }

  /** Forward passes run so far (tests check none runs while released). */
  get passes(): number {
    return this.forwardPasses;
  }

  /** Sums over every forward pass so far (a copy): batch sizes, decode contexts, executor time. */
  get stepStats(): StepStats {
    return { ...this.steps };
  }

  submit(seq: Sequence): void {
    this.scheduler.add(seq);
    this.wake();
  }

  abort(id: string): boolean {
    const seq = this.scheduler.abort(id);
    if (seq) this.options.onEvent({ seq, token: null, finishReason: 'abort' });
    this.wake();
    return seq !== null;
  }

  /** Ends every request, running or waiting (retracted ones too), each with an `abort` event. */
  abortAll(): number {
    const aborted = this.scheduler.abortAll();
    for (const seq of aborted) this.options.onEvent({ seq, token: null, finishReason: 'abort' });
    this.wake();
    return aborted.length;
  }

  /**
   * `wait` replies once the running requests have finished; `retract` once the forward pass
   * in flight has ended and the running requests are back in the queue without KV; the others
   * at once. `abort` ends every request, `keep` and `in_place` keep them as they are.
   */
  pauseGeneration(mode: PauseMode): Promise<ControlResult> {
    return new Promise((resolve) => {
      const result = this.pause.pause(mode, {
        onDrained: () =>
          resolve(
            mode === 'retract'
              ? this.retractRunning()
              : { success: true, message: 'paused (wait): drained' },
          ),
        onCancelled: (reason) =>
          resolve({ success: false, message: `pause (${mode}) cancelled: ${reason}` }),
      });
      if (result.abortRunning) this.abortAll();
      if (mode !== 'wait' && mode !== 'retract') resolve(result);
      this.wake();
    });
  }

  /**
   * Ends the user's pause. While memory is released (or a release is in progress) it still
   * succeeds, but nothing runs until every tag is resumed (spec rule 6).
   */
  continueGeneration(): ControlResult {
    const result = this.pause.resume();
    this.wake();
    return result;
  }

  async releaseMemory(tags?: readonly string[]): Promise<ReleaseReply> {
    const pending = this.memory.release(tags);
    this.wake();
    const reply = await pending;
    this.wake();
    return reply;
  }

  async resumeMemory(tags?: readonly string[]): Promise<ResumeReply> {
    const reply = await this.memory.resume(tags);
    this.wake();
    return reply;
  }

  isSleeping(): SleepStatus {
    return this.memory.isSleeping();
  }

  /**
   * A weight-update session (SGLang's `begin_weight_update` / `end_weight_update`): from begin
   * to end no forward pass starts, so no step reads weights that are half replaced by several
   * update calls. Begin fails while a session is open; end fails when none is.
   */
  beginWeightUpdate(): ControlResult {
    if (this.endUpdateSession)
      return { success: false, message: 'a weight update is already open' };
    this.endUpdateSession = this.pause.hold();
    return { success: true, message: 'weight update open: no forward pass starts until it ends' };
  }

  endWeightUpdate(): ControlResult {
    if (!this.endUpdateSession) return { success: false, message: 'no weight update is open' };
    this.endUpdateSession();
    this.endUpdateSession = null;
    this.wake();
    return { success: true, message: 'weight update closed' };
  }

  /**
   * Runs `fn` with no forward pass in flight and none starting until it ends (a weight
   * update writes the weights in place). The user's pause state is untouched.
   */
  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await this.pause.exclusive(fn);
    } finally {
      this.wake();
    }
  }

  /** Drops every cached prefix page no running request uses; fine while requests wait. */
  flushCache(): ControlResult & { freedPages: number } {
    const freedPages = this.options.prefixCache?.flush() ?? 0;
    return { success: true, message: `flushed ${freedPages} cached pages`, freedPages };
  }

  /**
   * After a weight update: the prefix cache forgets every page, also those running requests
   * use, and KV computed before now is never cached (it no longer matches the weights).
   */
  forgetCachedKv(): ControlResult {
    const forgotten = this.scheduler.forgetCachedKv();
    return { success: true, message: `prefix cache reset (${forgotten} pages forgotten)` };
  }

  async run(): Promise<void> {
    while (!this.stopped) {
      this.pause.tick();
      const mayRun = this.scheduler.hasWork && this.pause.mayRunForward();
      const items = mayRun ? this.scheduler.schedule(this.pause.mayAdmit()) : [];
      if (items.length === 0) {
        if (this.inFlight) this.collectInFlight();
        else await this.idle();
        continue;
      }
      await this.step(items);
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  stop(): void {
    this.stopped = true;
    this.pause.cancelDrains('the engine is shutting down');
    this.wake();
  }

  private async step(items: StepItem[]): Promise<void> {
    if (isOverlapped(this.options.executor)) return this.launch(items, this.options.executor);
    this.forwardInFlight = true;
    this.forwardPasses += 1;
    let sampled: SampledStep;
    const start = performance.now();
    try {
      const result = await this.options.executor.execute(items);
      sampled = isTokenList(result) ? { tokens: result } : result;
    } catch (error) {
      this.abortItems(items, error);
      return;
    } finally {
      this.forwardInFlight = false;
      addStep(this.steps, items, performance.now() - start);
    }
    this.emit(this.scheduler.settle(this.scheduler.advance(items), sampled));
  }

  private emit(events: readonly LoopEvent[]): void {
    for (const event of events) this.options.onEvent(event);
  }

  /**
   * Launches `items`, then collects the pass launched before (which ran meanwhile), so the
   * device always has the next pass queued while the host settles the last one.
   */
  private async launch(items: StepItem[], executor: OverlappedExecutor): Promise<void> {
    this.forwardInFlight = true;
    this.forwardPasses += 1;
    const start = performance.now();
    let launched: LaunchedStep;
    try {
      launched = await executor.launch(items);
    } catch (error) {
      if (this.inFlight) this.collectInFlight();
      this.abortItems(items, error);
      addStep(this.steps, items, performance.now() - start);
      this.forwardInFlight = this.inFlight !== null;
      return;
    }
    const previous = this.inFlight;
    this.inFlight = {
      step: this.scheduler.advance(items),
      launched,
      launchMs: performance.now() - start,
    };
    if (previous && !this.collect(previous)) {
      // The pass just launched took its inputs from the failed one: it goes too.
      const dependent = this.inFlight;
      this.inFlight = null;
      try {
        dependent.launched.collect();
      } catch {}
      this.abortItems(dependent.step.items, new Error('the pass before it failed'));
    }
    if (this.inFlight && !this.inFlight.launched.overlaps) this.collectInFlight();
    this.forwardInFlight = this.inFlight !== null;
  }

  private collectInFlight(): void {
    const pass = this.inFlight;
    this.inFlight = null;
    if (pass) this.collect(pass);
    this.forwardInFlight = false;
  }

  /** Takes a pass's tokens and applies them; false when it failed (its requests are aborted). */
  private collect(pass: PassInFlight): boolean {
    const waitStart = performance.now();
    let sampled: SampledStep;
    try {
      sampled = pass.launched.collect();
    } catch (error) {
      this.abortItems(pass.step.items, error);
      return false;
    } finally {
      addStep(this.steps, pass.step.items, pass.launchMs + performance.now() - waitStart);
    }
    this.emit(this.scheduler.settle(pass.step, sampled));
    return true;
  }

  private abortItems(items: readonly StepItem[], error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    for (const { seq } of items) {
      if (this.scheduler.abortSequence(seq))
        this.options.onEvent({ seq, token: null, finishReason: 'abort', error: message });
    }
  }

  /** Pause `retract`, with no forward pass in flight: the running requests go back, KV freed. */
  private retractRunning(): ControlResult {
    const count = this.scheduler.running.length;
    this.scheduler.retractAll();
    return { success: true, message: `paused (retract); running requests retracted: ${count}` };
  }

  private idle(): Promise<void> {
    return new Promise((resolve) => {
      this.wakeUp = resolve;
    });
  }

  private wake(): void {
    const wake = this.wakeUp;
    this.wakeUp = null;
    wake?.();
  }
}
