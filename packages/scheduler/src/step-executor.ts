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
