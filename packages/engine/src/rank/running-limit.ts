/**
 * The most requests a derived running-batch limit gives: the largest padded decode batch worth
 * a graph on one GPU here (a step of 256 sequences of a 1B model is a few ms of KV reads).
 */
export const MAX_DERIVED_RUNNING = 256;

/** What the running-batch limit is derived from: one rank's KV pool and its scheduler's limits. */
export interface RunningLimitInputs {
  /** Pages in the rank's KV pool. */
  totalPages: number;
  /** Most tokens one forward pass computes: each running sequence decodes one a step. */
  maxBatchTokens: number;
}

/**
 * The running-batch limit of a rank when none is given. How many requests run is the
 * scheduler's admission's to decide (each keeps KV for its prompt and expected growth,
 * SGLang's new-token ratio); the limit only caps it: a page per sequence at least, at most
 * MAX_DERIVED_RUNNING and the token budget of one pass, at least 1.
 */
export function derivedMaxRunning(c: RunningLimitInputs): number {
  return Math.max(1, Math.min(c.totalPages, MAX_DERIVED_RUNNING, c.maxBatchTokens));
}
