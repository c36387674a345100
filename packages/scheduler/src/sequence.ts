import type { SamplingParams } from './sampling-params.js';

export type SequenceStatus = 'waiting' | 'running' | 'finished';
export type FinishReason = 'stop' | 'length' | 'abort';

/** A token a pass in flight is sampling (overlapped passes): never a vocabulary id. */
export const UNKNOWN_TOKEN = -1;

/**
 * One request as the scheduler sees it: its tokens, where its KV lives (page table) and how
 * much of it is computed. `retract()` is the one way back to the waiting queue.
 */
export class Sequence {
  status: SequenceStatus = 'waiting';
  finishReason: FinishReason | null = null;
  /** Pages holding this sequence's KV, in token order. */
  pageTable: number[] = [];
  /** Tokens whose KV is in the pages (computed, or shared from the prefix cache). */
  computedTokens = 0;
  /** Of those, the tokens whose pages the prefix cache holds (given by it, or put in it). */
  insertedTokens = 0;
  /**
   * The row of the pass in flight that samples this sequence's last token, while that token is
   * not known on the host (overlapped passes); null when every token is known.
   */
  sampledInRow: number | null = null;
  /** Prompt tokens the prefix cache gave at its first admission (SGLang's `cached_tokens`). */
  cachedTokens: number | null = null;
  /** Times this sequence went back to the queue (for metrics and tests). */
  retractions = 0;
  /**
   * Whether its KV may go into the prefix cache: false once the weights changed under KV it
   * holds (that KV no longer matches what the weights compute), true again once it drops it.
   */
  cacheable = true;
  readonly promptLength: number;
  /** Log-probabilities of prompt tokens `inputLogprobsFrom` .. (logprobStartLen on). */
  readonly inputLogprobs: number[] = [];
  readonly inputLogprobsFrom: number;
  private readonly tokens: number[];
  private unknown = 0;

  constructor(
    readonly id: string,
    promptTokens: readonly number[],
    readonly params: SamplingParams,
  ) {
    if (promptTokens.length === 0) throw new Error(`sequence ${id}: the prompt is empty`);
    this.tokens = [...promptTokens];
    this.promptLength = promptTokens.length;
    this.inputLogprobsFrom = Math.max(params.logprobStartLen, 1);
    if (params.logprobStartLen >= promptTokens.length)
      throw new Error(
        `sequence ${id}: logprobStartLen ${params.logprobStartLen} is past its prompt of ${promptTokens.length} tokens`,
      );
  }

  /** The next prompt token whose logprob is missing, or null when none is wanted or missing. */
  get nextScoredToken(): number | null {
    if (this.params.logprobStartLen < 0) return null;
    const next = this.inputLogprobsFrom + this.inputLogprobs.length;
    return next < this.promptLength ? next : null;
  }

  get length(): number {
    return this.tokens.length;
  }

  get outputTokens(): number[] {
    return this.tokens.slice(this.promptLength);
  }

  get allTokens(): readonly number[] {
    return this.tokens;
  }

  /** Tokens still to run through the model before the next one can be sampled. */
  get pendingTokens(): number {
    return this.tokens.length - this.computedTokens;
  }

  appendToken(token: number): void {
    if (this.status !== 'running') throw new Error(`sequence ${this.id} is ${this.status}`);
    this.tokens.push(token);
  }

  /** Whether some of its tokens are still being sampled (`UNKNOWN_TOKEN` in `allTokens`). */
  get hasUnknownTokens(): boolean {
    return this.unknown > 0;
  }

  /** Appends a token a pass in flight samples in `row`: known once `settleToken` sets it. */
  appendUnknownToken(row: number): number {
    this.appendToken(UNKNOWN_TOKEN);
    this.unknown += 1;
    this.sampledInRow = row;
    return this.tokens.length - 1;
  }

  /** The token at `index`, appended unknown, as sampled. */
  settleToken(index: number, token: number): void {
    if (this.tokens[index] !== UNKNOWN_TOKEN)
      throw new Error(`sequence ${this.id}: token ${index} is not awaiting its sample`);
    this.tokens[index] = token;
    this.unknown -= 1;
    if (index === this.tokens.length - 1) this.sampledInRow = null;
  }

  /** Drops tokens from `index` on (sampled after the sequence ended, by an overlapped pass). */
  truncate(index: number): void {
    for (let i = index; i < this.tokens.length; i++)
      if (this.tokens[i] === UNKNOWN_TOKEN) this.unknown -= 1;
    this.tokens.length = index;
    this.computedTokens = Math.min(this.computedTokens, index);
    this.sampledInRow = null;
  }

  finish(reason: FinishReason): void {
    this.status = 'finished';
    this.finishReason = reason;
  }

  /** Hands back the pages (to be released by the caller) and forgets the computed KV. */
  dropKv(): number[] {
    const pages = this.pageTable;
    this.pageTable = [];
    this.computedTokens = 0;
    this.insertedTokens = 0;
    this.cacheable = true;
    return pages;
  }

  /** Back to waiting with no KV: generated tokens are kept and recomputed as prompt. */
  retract(): number[] {
    this.status = 'waiting';
    this.retractions += 1;
    return this.dropKv();
  }
}
