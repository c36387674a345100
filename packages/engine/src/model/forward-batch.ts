import type { SamplingParams } from '@ts/scheduler';

/** One sequence's share of a forward pass. */
export interface ForwardSequence {
  /** The tokens to compute now: a whole prompt, a chunk of one, or the last sampled token. */
  tokens: readonly number[];
  /** Tokens of this sequence already in the KV cache (computed or from the prefix cache). */
  cachedTokens: number;
  /** KV pages of the sequence, covering cachedTokens + tokens.length slots. */
  pageTable: readonly number[];
  /**
   * Tokens of `tokens` (from index `from`, `count` of them, all before the last) whose logits
   * rows are wanted too, after every sequence's last-token row (input-token logprobs).
   */
  extraLogits?: { from: number; count: number };
  /**
   * Set when the one token is not known on the host: it is the token the pass before sampled
   * in this row (taken on the device). Such sequences come first in a pass.
   */
  inputFrom?: number;
}

/**
 * How the next token of a sequence is chosen (temperature 0 means greedy): the model's part of
 * `SamplingParams`. A token is drawn from (seed, index of the token being sampled) alone, so a
 * seed replays.
 */
export type SamplingSpec = Pick<SamplingParams, 'temperature' | 'topK' | 'topP' | 'seed'>;

export const GREEDY: SamplingSpec = { temperature: 0, topK: 0, topP: 1, seed: 0n };
