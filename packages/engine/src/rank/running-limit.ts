/**
 * The most requests a derived running-batch limit gives: the largest padded decode batch worth
 * a graph on one GPU here (a step of 256 sequences of a 1B model is a few ms of KV reads).
 */
export const MAX_DERIVED_RUNNING = 256;

/** What the running-batch limit is derived from: one rank's KV pool and its scheduler's limits. */
export interface RunningLimitInputs {
  /** Pages in the rank's KV pool. */
  totalPages: number;
  pageSize: number;
  /** Longest sequence (prompt + output) a request may reach. */
  maxContext: number;
  /** Most tokens one forward pass computes: each running sequence decodes one a step. */
  maxBatchTokens: number;
}

/**
 * The running-batch limit of a rank when none is given, from its KV capacity (as SGLang derives
 * `max_running_requests` from its token pool): as many sequences as the pool holds at half the
 * context length each (what a request is expected to reach on average; when more is reached,
 * the scheduler retracts the newest), at least 1, at most MAX_DERIVED_RUNNING and the token
 * budget of one pass.
 */
export function derivedMaxRunning(c: RunningLimitInputs): number {
  const expectedPages = Math.max(1, Math.ceil(Math.ceil(c.maxContext / 2) / c.pageSize));
  const fits = Math.floor(c.totalPages / expectedPages);
  return Math.max(1, Math.min(fits, MAX_DERIVED_RUNNING, c.maxBatchTokens));
}
