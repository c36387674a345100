import type { Sequence } from './sequence.js';

/** What admission reserves for one request at most: SGLang clips max_new_tokens at this. */
export const MAX_RESERVED_NEW_TOKENS = 4096;

/** SGLang's: start at 0.7, decay to 0.1 over 600 steps; after a retraction, 20 steps more. */
const INITIAL_RATIO = 0.7;
const FLOOR_RATIO = 0.1;
const DECAY_STEPS = 600;
const RETRACT_STEPS = 20;

/**
 * How much of its remaining `maxNewTokens` a running request is expected to still generate
 * (SGLang's new_token_ratio), so admission keeps KV for the growth of what runs instead of
 * admitting a batch only to retract it. It starts cautious, decays with every step that needed
 * no retraction, and a retraction raises it to what the retracted batch had actually needed.
 */
export class GrowthEstimate {
  private value: number;
  private readonly floor: number;
  private readonly step: number;
  /** False at conservativeness 0: nothing is kept for growth, retractions included. */
  private readonly reserves: boolean;

  /**
   * `conservativeness` scales the start and the floor (SGLang's `--schedule-conservativeness`):
   * above 1 admits fewer requests and retracts less; 0 reserves nothing (admit while the
   * prompt fits, retract when KV runs out).
   */
  constructor(conservativeness = 1) {
    if (!Number.isFinite(conservativeness) || conservativeness < 0)
      throw new RangeError('scheduleConservativeness must be a number >= 0');
    this.value = Math.min(1, INITIAL_RATIO * conservativeness);
    this.floor = Math.min(1, FLOOR_RATIO * conservativeness);
    this.step = (this.value - this.floor) / DECAY_STEPS;
    this.reserves = conservativeness > 0;
  }

  get ratio(): number {
    return this.value;
  }

  /** A step ran without retracting anything. */
  decay(): void {
    this.value = Math.max(this.floor, this.value - this.step);
  }

  /**
   * Requests were retracted for room: the share of their budget the running batch (as it was)
   * had produced, plus some steps more, is the new estimate.
   */
  retracted(batch: readonly Sequence[]): void {
    const produced = batch.reduce((n, s) => n + s.outputTokens.length, 0);
    const budget = batch.reduce((n, s) => n + s.params.maxNewTokens, 0);
    if (!this.reserves) return;
    const estimate = (produced + RETRACT_STEPS * batch.length) / Math.max(1, budget);
    this.value = Math.min(1, Math.max(this.value, estimate));
  }

  /**
   * What a request being admitted keeps for its own growth: its whole clipped budget, as
   * SGLang does (from its next step on it counts at the ratio); nothing when conservativeness is 0.
   */
  admissionTokens(seq: Sequence): number {
    return this.reserves ? remainingOf(seq) : 0;
  }

  /** Tokens the running requests are expected to add: their clipped remaining budgets × ratio. */
  reservedTokens(running: readonly Sequence[]): number {
    let tokens = 0;
    for (const seq of running) tokens += Math.ceil(remainingOf(seq) * this.value);
    return tokens;
  }
}

/** A request's clipped remaining budget of new tokens. */
export function remainingOf(seq: Sequence): number {
  const left = seq.params.maxNewTokens - seq.outputTokens.length;
  return Math.max(0, Math.min(left, MAX_RESERVED_NEW_TOKENS));
}
