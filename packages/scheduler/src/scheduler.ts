import type { PageAllocator } from '@ts/kv-pool';
import { GrowthEstimate } from './growth-estimate.js';
import type { PrefixCache } from './prefix-cache.js';
import type { FinishReason, Sequence } from './sequence.js';
import type { SampledStep } from './step-executor.js';

export interface SchedulerOptions {
  pageSize: number;
  /** Most sequences in the running batch. */
  maxRunning: number;
  /** Most tokens one forward pass computes (prefill chunks and decodes together). */
  maxBatchTokens: number;
  /** Longest sequence (prompt + new tokens) a request may reach; unlimited when omitted. */
  maxSequenceLength?: number;
  /** Extra logits rows one pass may compute for input-token logprobs (default 0: none). */
  maxInputLogprobRows?: number;
  /** How much KV admission keeps for the running batch's growth (`GrowthEstimate`; default 1). */
  scheduleConservativeness?: number;
  eosTokenIds: readonly number[];
}

/** One sequence's share of a step: the tokens it computes now, and whether it then samples. */
export interface StepItem {
  seq: Sequence;
  tokens: number[];
  cachedTokens: number;
  pageTable: readonly number[];
  /** True when this step consumes the sequence's whole pending input, so a token is sampled. */
  samples: boolean;
  /**
   * Set when the item's one input token is still being sampled by the pass in flight: the row
   * of that pass whose sampled token it is (the executor takes it on the device). Such items
   * come first in a step.
   */
  inputFrom?: number;
  /**
   * Prompt positions `first` .. `first + count - 1` whose logits give input-token logprobs
   * (position p's logits score token p + 1): extra rows, and the last token's row when it is
   * one of them.
   */
  scores?: { first: number; count: number };
}

export interface TokenEvent {
  seq: Sequence;
  token: number;
  /** Which output token it is (0: the first); the sequence may have grown past it already. */
  outputIndex: number;
  finishReason: FinishReason | null;
  /** The token's log-probability, where its sequence asked for it (`returnLogprob`). */
  logprob?: number;
  /** Its sequence's `tokenIdsLogprob` ids' log-probabilities at this position, in order. */
  tokenIdsLogprobs?: readonly number[];
  /** Its sequence's `topLogprobsNum` most likely tokens here: ids and logprobs. */
  topLogprobs?: TopLogprobs;
}

/** The most likely tokens at one position, most likely first. */
export interface TopLogprobs {
  ids: readonly number[];
  logprobs: readonly number[];
}

/** A pass `advance` has counted in: what `settle` needs once its sampled tokens are known. */
export interface AdvancedStep {
  items: readonly StepItem[];
  /** Per item: the index in its sequence of the token it samples (unknown until settled), or null. */
  sampledAt: (number | null)[];
  /** Per item: its sequence's computed tokens after this pass, and its retractions then. */
  computedTo: number[];
  retractionsAt: number[];
}

/**
 * Continuous batching for one rank: running sequences first (decodes and unfinished prefill
 * chunks), then admissions from the waiting queue, under a token budget. When pages run short
 * the prefix cache is evicted first, then the newest running sequences are retracted.
 */
export class Scheduler {
  readonly waiting: Sequence[] = [];
  readonly running: Sequence[] = [];
  /** Extra logits rows left in the step being planned. */
  private scoreRows = 0;
  private readonly growth: GrowthEstimate;
  /** The running sequences the step being planned retracted for room. */
  private readonly retracted: Sequence[] = [];

  constructor(
    private readonly pages: PageAllocator,
    private readonly cache: PrefixCache | null,
    private readonly options: SchedulerOptions,
  ) {
    this.growth = new GrowthEstimate(options.scheduleConservativeness);
  }

  get hasWork(): boolean {
    return this.waiting.length > 0 || this.running.length > 0;
  }

  /** Queues a sequence; fails if it could never fit in the KV pool. */
  add(seq: Sequence): void {
    // max_new_tokens 0 (a scored prompt) still samples one token.
    const newTokens = Math.max(1, seq.params.maxNewTokens);
    const longest = seq.length + newTokens;
    const limit = this.options.maxSequenceLength ?? Number.POSITIVE_INFINITY;
    if (longest > limit) {
      throw new Error(
        `request ${seq.id} may reach ${longest} tokens, more than the maximum sequence length ${limit}`,
      );
    }
    const pagesNeeded = Math.ceil((seq.length + newTokens) / this.options.pageSize);
    if (pagesNeeded > this.pages.totalPages) {
      throw new Error(
        `request ${seq.id} needs ${pagesNeeded} KV pages (prompt ${seq.length} + ${newTokens} new tokens), the pool has ${this.pages.totalPages}`,
      );
    }
    this.waiting.push(seq);
  }

  /** Plans the next forward pass; `mayAdmit` is the pause controller's answer. */
  schedule(mayAdmit: boolean): StepItem[] {
    const items: StepItem[] = [];
    let budget = this.options.maxBatchTokens;
    this.scoreRows = this.options.maxInputLogprobRows ?? 0;
    const runningAtStart = this.running.length;
    this.retracted.length = 0;
    // Items whose input the pass in flight samples come first (the executor takes those on the
    // device), then the other running ones, then admissions.
    const others: StepItem[] = [];
    for (let i = 0; i < this.running.length && budget > 0; ) {
      const seq = this.running[i] as Sequence;
      const n = this.chunkSize(seq, budget);
      if (!this.makeRoom(seq, seq.computedTokens + n)) continue;
      const item = this.item(seq, n);
      (item.inputFrom === undefined ? others : items).push(item);
      budget -= n;
      i += 1;
    }
    items.push(...others);
    if (this.retracted.length > 0) this.growth.retracted([...this.running, ...this.retracted]);
    else if (runningAtStart > 0) this.growth.decay();
    // KV tokens free (or held only by the cache) beyond what the running batch is expected to
    // add: a request is admitted while its prompt and its own budget fit in it (SGLang's rule).
    let headroom =
      (this.pages.freePages + this.pages.cachedOnlyPages) * this.options.pageSize -
      this.growth.reservedTokens(this.running);
    for (
      let i = 0;
      mayAdmit &&
      budget > 0 &&
      this.running.length < this.options.maxRunning &&
      i < this.waiting.length;
    ) {
      const seq = this.waiting[i] as Sequence;
      // Retracted while a pass in flight samples its last token: it waits for that token.
      if (seq.hasUnknownTokens) break;
      if (seq.computedTokens === 0 && this.cache) {
        // A scored prompt computes every position it scores: the cache may give only those before.
        const scored = seq.nextScoredToken;
        const limit = scored === null ? seq.length - 1 : Math.min(seq.length - 1, scored - 1);
        seq.pageTable = this.cache.match(seq.allTokens, limit);
        seq.computedTokens = seq.pageTable.length * this.options.pageSize;
        seq.insertedTokens = seq.computedTokens;
        if (scored === null && this.awaitsSharedPrefill(seq)) {
          this.pages.release(seq.dropKv());
          i += 1;
          continue;
        }
      }
      const n = this.chunkSize(seq, budget);
      const wanted = seq.length - seq.computedTokens + this.growth.admissionTokens(seq);
      if (
        (this.running.length > 0 && wanted > headroom) ||
        !this.ensurePages(seq, seq.computedTokens + n)
      ) {
        this.pages.release(seq.dropKv());
        break;
      }
      headroom -= wanted;
      this.waiting.splice(i, 1);
      seq.cachedTokens ??= seq.computedTokens;
      seq.status = 'running';
      this.running.push(seq);
      items.push(this.item(seq, n));
      budget -= n;
    }
    return items;
  }

  /**
   * Applies a pass's results: `sampled[i]` is the token of `items[i]` when it samples, and
   * `logprobs[i]` its log-probability, passed on for sequences that asked for it.
   */
  postprocess(
    items: readonly StepItem[],
    sampled: readonly number[],
    logprobs?: readonly number[],
    inputLogprobs?: readonly (readonly number[] | undefined)[],
    tokenIdsLogprobs?: readonly (readonly number[] | undefined)[],
    topLogprobs?: readonly (TopLogprobs | undefined)[],
  ): TokenEvent[] {
    return this.settle(this.advance(items), {
      tokens: sampled,
      ...(logprobs ? { logprobs } : {}),
      ...(inputLogprobs ? { inputLogprobs } : {}),
      ...(tokenIdsLogprobs ? { tokenIdsLogprobs } : {}),
      ...(topLogprobs ? { topLogprobs } : {}),
    });
  }

  /**
   * Counts a launched pass in before its tokens are known, so the next pass can be planned
   * while it runs: its tokens are computed, each sampling item's sequence grows by a token not
   * yet known (UNKNOWN_TOKEN), and a sequence that reaches its token budget leaves the running
   * batch now (it finishes when settled). `settle` then applies the sampled tokens.
   */
  advance(items: readonly StepItem[]): AdvancedStep {
    const sampledAt: (number | null)[] = [];
    const computedTo: number[] = [];
    const retractionsAt: number[] = [];
    for (const [row, item] of items.entries()) {
      const { seq } = item;
      seq.computedTokens += item.tokens.length;
      computedTo.push(seq.computedTokens);
      retractionsAt.push(seq.retractions);
      if (!item.samples || seq.status !== 'running') {
        sampledAt.push(null);
        continue;
      }
      sampledAt.push(seq.appendUnknownToken(row));
      if (seq.length - seq.promptLength >= seq.params.maxNewTokens) this.remove(seq);
    }
    return { items, sampledAt, computedTo, retractionsAt };
  }

  /** Applies the sampled tokens of a pass `advance` counted in; returns their events. */
  settle(step: AdvancedStep, sampled: SampledStep): TokenEvent[] {
    const { logprobs, inputLogprobs, tokenIdsLogprobs, topLogprobs } = sampled;
    const events: TokenEvent[] = [];
    const pageSize = this.options.pageSize;
    for (const [i, item] of step.items.entries()) {
      const { seq } = item;
      const scored = inputLogprobs?.[i];
      if (item.scores && scored) {
        // Position p scores token p + 1; a recompute after a retraction adds nothing twice.
        for (const [j, value] of scored.entries())
          if (item.scores.first + 1 + j === seq.nextScoredToken) seq.inputLogprobs.push(value);
      }
      const computedTo = step.computedTo[i] as number;
      const holdsKv = seq.status === 'running' && seq.retractions === step.retractionsAt[i];
      // Pages filled by this step are cached now, so requests sharing the prompt (n samples of
      // it, sent together) reuse them instead of computing them again.
      if (holdsKv && Math.floor(item.cachedTokens / pageSize) < Math.floor(computedTo / pageSize))
        this.cacheComputed(seq, computedTo);
      const at = step.sampledAt[i];
      if (at === null || at === undefined || seq.status === 'finished') continue;
      const token = sampled.tokens[i] as number;
      seq.settleToken(at, token);
      const reason = this.finishReason(seq, token, at + 1 - seq.promptLength);
      if (reason) {
        seq.truncate(at + 1);
        this.finish(seq, reason);
      }
      const logprob = seq.params.returnLogprob ? logprobs?.[i] : undefined;
      const chosen = tokenIdsLogprobs?.[i];
      const top = topLogprobs?.[i];
      events.push({
        seq,
        token,
        outputIndex: at - seq.promptLength,
        finishReason: reason,
        ...(logprob !== undefined ? { logprob } : {}),
        ...(chosen ? { tokenIdsLogprobs: chosen } : {}),
        ...(top ? { topLogprobs: top } : {}),
      });
    }
    return events;
  }

  /**
   * Whether a running sequence is still computing the next whole page of `seq`'s prompt past
   * what the prefix cache gave it: then `seq` waits a step and takes it from the cache. Cheap
   * per pair: the cached prefix is compared by page ids (the cache gives one page per prefix),
   * then one page of tokens.
   */
  private awaitsSharedPrefill(seq: Sequence): boolean {
    const { pageSize } = this.options;
    const cached = seq.pageTable.length;
    const next = cached * pageSize;
    if (next + pageSize > seq.length - 1) return false; // the cache never gives the last token
    const tokens = seq.allTokens;
    for (const other of this.running) {
      // In the cache already (then match gave it), or never going there.
      if (other.insertedTokens >= next + pageSize || !other.cacheable) continue;
      if (other.length < next + pageSize) continue;
      let same = true;
      for (let j = 0; same && j < cached; j++) same = other.pageTable[j] === seq.pageTable[j];
      const theirs = other.allTokens;
      for (let t = next; same && t < next + pageSize; t++) same = theirs[t] === tokens[t];
      if (same) return true;
    }
    return false;
  }

  /**
   * After the weights changed: the prefix cache forgets everything (running requests keep
   * their pages), and no KV computed before now is cached again. Returns the pages it forgot.
   */
  forgetCachedKv(): number {
    const forgotten = this.cache?.size ?? 0;
    this.cache?.reset();
    for (const seq of [...this.running, ...this.waiting]) {
      if (seq.computedTokens > 0) seq.cacheable = false;
      seq.insertedTokens = 0;
    }
    return forgotten;
  }

  /** Ends a request wherever it is; its pages go back. */
  abort(id: string): Sequence | null {
    const seq = this.running.find((s) => s.id === id) ?? this.waiting.find((s) => s.id === id);
    if (!seq) return null;
    this.abortSequence(seq);
    return seq;
  }

  /**
   * Ends `seq` with `abort` unless it has finished: also one that left the running batch with
   * its last token still being sampled (`advance`). False when it had finished.
   */
  abortSequence(seq: Sequence): boolean {
    if (seq.status === 'finished') return false;
    this.remove(seq);
    this.pages.release(seq.dropKv());
    seq.finish('abort');
    return true;
  }

  /** Aborts every request, running and waiting (pause mode `abort`). */
  abortAll(): Sequence[] {
    return [...this.running, ...this.waiting].map((s) => this.abort(s.id) as Sequence);
  }

  /** Puts every running sequence back at the front of the queue, in order (their KV is going). */
  retractAll(): void {
    const retracted = this.running.splice(0);
    for (const seq of retracted) this.pages.release(seq.retract());
    this.waiting.unshift(...retracted);
  }

  /** The full pages of `seq`'s first `upTo` computed tokens go into the prefix cache, if its KV may. */
  private cacheComputed(seq: Sequence, upTo = seq.computedTokens): void {
    if (!seq.cacheable || !this.cache) return;
    this.cache.insert(seq.allTokens, seq.pageTable, upTo);
    const pageSize = this.options.pageSize;
    const full = Math.min(Math.floor(upTo / pageSize), seq.pageTable.length) * pageSize;
    seq.insertedTokens = Math.max(seq.insertedTokens, full);
  }

  private item(seq: Sequence, n: number): StepItem {
    const start = seq.computedTokens;
    const scores = this.scoredPositions(seq, start, n);
    const item: StepItem = {
      seq,
      tokens: seq.allTokens.slice(start, start + n),
      cachedTokens: start,
      pageTable: seq.pageTable,
      samples: n === seq.pendingTokens,
      ...(scores ? { scores } : {}),
      ...(seq.sampledInRow !== null ? { inputFrom: seq.sampledInRow } : {}),
    };
    this.scoreRows -= extraLogitRows(item);
    return item;
  }

  /**
   * Tokens of `seq` for this step: what is pending, within the token budget, and for a scored
   * prompt within the extra logits rows left (its chunk's last row is not extra).
   */
  private chunkSize(seq: Sequence, budget: number): number {
    const n = Math.min(seq.pendingTokens, budget);
    const scored = seq.nextScoredToken;
    if (scored === null) return n;
    const firstScored = Math.max(seq.computedTokens, scored - 1);
    return Math.max(1, Math.min(n, firstScored - seq.computedTokens + this.scoreRows + 1));
  }

  /** The prompt positions of a chunk [start, start + n) whose logits score a missing token. */
  private scoredPositions(seq: Sequence, start: number, n: number) {
    const scored = seq.nextScoredToken;
    if (scored === null) return null;
    const first = Math.max(start, scored - 1);
    const end = Math.min(start + n, seq.promptLength - 1);
    return end > first ? { first, count: end - first } : null;
  }

  /** Pages for `tokens` tokens of a running sequence, retracting the newest others if needed. */
  private makeRoom(seq: Sequence, tokens: number): boolean {
    while (!this.ensurePages(seq, tokens)) {
      const victim = this.running.at(-1) as Sequence;
      this.running.pop();
      this.retracted.push(victim);
      this.pages.release(victim.retract());
      this.waiting.unshift(victim);
      if (victim === seq) return false;
    }
    return true;
  }

  private ensurePages(seq: Sequence, tokens: number): boolean {
    const needed = Math.ceil(tokens / this.options.pageSize) - seq.pageTable.length;
    if (needed <= 0) return true;
    if (!this.pages.canAllocate(needed)) this.cache?.evict(needed - this.pages.freePages);
    if (!this.pages.canAllocate(needed)) return false;
    seq.pageTable.push(...this.pages.allocate(needed));
    return true;
  }

  /** Why `seq` ends at `token`, its `outputs`-th output token, if it does. */
  private finishReason(seq: Sequence, token: number, outputs: number): FinishReason | null {
    const { params } = seq;
    // Before minNewTokens the executor bans these tokens; should one come anyway, it goes on.
    const mayStop = outputs >= params.minNewTokens;
    if (mayStop && !params.ignoreEos && this.options.eosTokenIds.includes(token)) return 'stop';
    if (mayStop && params.stopTokenIds.includes(token)) return 'stop';
    if (outputs >= params.maxNewTokens) return 'length';
    return null;
  }

  private finish(seq: Sequence, reason: FinishReason): void {
    this.remove(seq);
    this.cacheComputed(seq);
    this.pages.release(seq.dropKv());
    seq.finish(reason);
  }

  private remove(seq: Sequence): void {
    for (const list of [this.running, this.waiting]) {
      const at = list.indexOf(seq);
      if (at >= 0) list.splice(at, 1);
    }
  }
}

/** Whether an item's last token is among its scored positions (its own row then scores it). */
export function lastTokenScored(item: StepItem): boolean {
  const s = item.scores;
  return s !== undefined && s.first + s.count === item.cachedTokens + item.tokens.length;
}

/** The logits rows an item needs besides its last token's: its scored positions but that one. */
export function extraLogitRows(item: StepItem): number {
  return item.scores ? item.scores.count - (lastTokenScored(item) ? 1 : 0) : 0;
}
