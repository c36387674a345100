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
import type { Scheduler, StepItem, TokenEvent, TopLogprobs } from './scheduler.js';
import type { Sequence } from './sequence.js';

/** Runs one forward pass and returns each item's sampled token (ignored where it samples none). */
/** A pass's sampled tokens, one per item, with their log-probabilities where any item asked. */
export interface SampledStep {
  tokens: readonly number[];
  logprobs?: readonly number[];
  /** Per item with `scores`: the logprobs of its scored positions' next tokens, in order. */
  inputLogprobs?: readonly (readonly number[] | undefined)[];
  /** Per sampling item with `tokenIdsLogprob`: those ids' logprobs at the sampled position. */
  tokenIdsLogprobs?: readonly (readonly number[] | undefined)[];
  /** Per sampling item with `topLogprobsNum`: its most likely tokens at the sampled position. */
  topLogprobs?: readonly (TopLogprobs | undefined)[];
}

export interface StepExecutor {
  execute(
    items: readonly StepItem[],
  ): readonly number[] | SampledStep | Promise<readonly number[] | SampledStep>;
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
  private holds = 0;
  private stepDone: Promise<void> = Promise.resolve();
  private stopped = false;
  private wakeUp: (() => void) | null = null;
  private forwardPasses = 0;

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

  /** `wait` replies once the running requests have finished; the others at once. */
  pauseGeneration(mode: PauseMode): Promise<ControlResult> {
    return new Promise((resolve) => {
      const result = this.pause.pause(mode, {
        onDrained: () => resolve({ success: true, message: 'paused (wait): drained' }),
        onCancelled: (reason) =>
          resolve({ success: false, message: `pause (wait) cancelled: ${reason}` }),
      });
      if (result.abortRunning) {
        for (const seq of this.scheduler.abortAll())
          this.options.onEvent({ seq, token: null, finishReason: 'abort' });
      }
      if (mode !== 'wait') resolve(result);
      this.wake();
    });
  }

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
   * Runs `fn` with no forward pass in flight and none starting until it ends (a weight
   * update writes the weights in place). The user's pause state is untouched.
   */
  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    this.holds += 1;
    try {
      while (this.forwardInFlight) await this.stepDone;
      return await fn();
    } finally {
      this.holds -= 1;
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
      const mayRun = this.holds === 0 && this.scheduler.hasWork && this.pause.mayRunForward();
      const items = mayRun ? this.scheduler.schedule(this.pause.mayAdmit()) : [];
      if (items.length === 0) {
        await this.idle();
        continue;
      }
      const step = this.step(items);
      this.stepDone = step;
      await step;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  stop(): void {
    this.stopped = true;
    this.pause.cancelDrains('the engine is shutting down');
    this.wake();
  }

  private async step(items: StepItem[]): Promise<void> {
    this.forwardInFlight = true;
    this.forwardPasses += 1;
    let sampled: SampledStep;
    try {
      const result = await this.options.executor.execute(items);
      sampled = isTokenList(result) ? { tokens: result } : result;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      for (const { seq } of items) {
        if (this.scheduler.abort(seq.id))
          this.options.onEvent({ seq, token: null, finishReason: 'abort', error: message });
      }
      return;
    } finally {
      this.forwardInFlight = false;
    }
    const events = this.scheduler.postprocess(
      items,
      sampled.tokens,
      sampled.logprobs,
      sampled.inputLogprobs,
      sampled.tokenIdsLogprobs,
      sampled.topLogprobs,
    );
    for (const event of events) this.options.onEvent(event);
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

function isTokenList(result: readonly number[] | SampledStep): result is readonly number[] {
  return Array.isArray(result);
}
