import type { StepItem, TopLogprobs } from './scheduler.js';

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

/** Runs one forward pass and returns each item's sampled token (ignored where it samples none). */
export interface StepExecutor {
  execute(
    items: readonly StepItem[],
  ): readonly number[] | SampledStep | Promise<readonly number[] | SampledStep>;
}

export function isTokenList(result: readonly number[] | SampledStep): result is readonly number[] {
  return Array.isArray(result);
}

/** A pass on the device, launched and counted in, whose tokens are taken by `collect`. */
export interface LaunchedStep {
  /**
   * Whether the next pass may be launched before this one is collected: false when collecting
   * still reads this pass's logits (input-token logprobs, top logprobs, chosen ids' logprobs).
   */
  readonly overlaps: boolean;
  /** Waits for this pass's sampled tokens (not for passes launched after it). */
  collect(): SampledStep;
}

/**
 * An executor that can launch a pass without waiting for it, so the loop plans and launches
 * the next one while it runs (items whose `inputFrom` is set take their input token from the
 * pass launched before).
 */
export interface OverlappedExecutor extends StepExecutor {
  launch(items: readonly StepItem[]): Promise<LaunchedStep>;
}

export function isOverlapped(executor: StepExecutor): executor is OverlappedExecutor {
  return typeof (executor as Partial<OverlappedExecutor>).launch === 'function';
}
