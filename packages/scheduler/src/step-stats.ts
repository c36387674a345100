import type { StepItem } from './scheduler.js';

/**
 * Running sums over the forward passes of a rank loop, cheap enough to keep on every pass: two
 * reads subtract to a span's (mean batch, mean decode context, time in the executor).
 */
export interface StepStats {
  /** Forward passes run. */
  passes: number;
  /** Sequences in each pass, summed over the passes. */
  sequences: number;
  /** Tokens the passes computed: prefill chunks and decodes. */
  tokens: number;
  /** Sequences that decoded (one token past their prompt), summed over the passes. */
  decodeSequences: number;
  /** The context lengths of those decodes (the KV read plus the new token), summed. */
  decodeContextTokens: number;
  /** Milliseconds inside the executor: forward pass and sampling, waiting for the device. */
  executeMs: number;
}

export const emptyStepStats = (): StepStats => ({
  passes: 0,
  sequences: 0,
  tokens: 0,
  decodeSequences: 0,
  decodeContextTokens: 0,
  executeMs: 0,
});

/** Adds one pass of `items` that spent `executeMs` in the executor to `stats`. */
export function addStep(stats: StepStats, items: readonly StepItem[], executeMs: number): void {
  stats.passes += 1;
  stats.sequences += items.length;
  stats.executeMs += executeMs;
  for (const item of items) {
    stats.tokens += item.tokens.length;
    if (item.tokens.length !== 1 || item.cachedTokens < item.seq.promptLength) continue;
    stats.decodeSequences += 1;
    stats.decodeContextTokens += item.cachedTokens + 1;
  }
}
