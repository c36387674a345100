import type { KvPool } from '@ts/kv-pool';
import type { MemorySaver } from '@ts/memory-saver-native';
import {
  extraLogitRows,
  type LaunchedStep,
  lastTokenScored,
  type OverlappedExecutor,
  type SampledStep,
  type StepItem,
  type TopLogprobs,
} from '@ts/scheduler';
import type { ForwardSequence } from '../model/forward-batch.js';
import type { LogitBias, ModelRunner } from '../model/model-runner.js';
import type { LoadedWeights } from '../model/weights/load-weights.js';
import { stepTraceOn, traceNow } from '../trace/step-trace.js';

/**
 * Runs the scheduler's steps on the model runner: forward, then sample on the device. The
 * weights' restore after a resume is deferred (an update may replace them first), so the first
 * step after a wake copies them back before any kernel reads them. On the leader of a
 * tensor-parallel group, `group` is handed every pass right before the leader runs its share.
 * A launched pass overlaps the next one (`overlap`) unless collecting it reads its logits, or a
 * group runs it (its peers take every token from the host).
 */
export class RunnerExecutor implements OverlappedExecutor {
  constructor(
    private readonly runner: ModelRunner,
    private readonly kv: KvPool,
    private readonly saver: MemorySaver,
    private readonly weights: LoadedWeights,
    /** The model's end-of-sequence ids, banned before a request's minNewTokens. */
    private readonly eosTokenIds: readonly number[] = [],
    private readonly group: { forward(sequences: readonly ForwardSequence[]): void } | null = null,
    private readonly overlap = true,
  ) {}

  async execute(items: readonly StepItem[]): Promise<SampledStep> {
    return (await this.launch(items)).collect();
  }

  async launch(items: readonly StepItem[]): Promise<LaunchedStep> {
    const start = traceNow();
    if (this.saver.restorePending(this.weights.allocation))
      await this.saver.restore(this.weights.allocation);
    const restored = traceNow();
    const sequences = items.map((item): ForwardSequence => {
      const extra = extraLogitRows(item);
      return {
        tokens: item.tokens,
        cachedTokens: item.cachedTokens,
        pageTable: item.pageTable,
        ...(item.inputFrom !== undefined ? { inputFrom: item.inputFrom } : {}),
        ...(extra > 0
          ? { extraLogits: { from: (item.scores?.first ?? 0) - item.cachedTokens, count: extra } }
          : {}),
      };
    });
    this.group?.forward(sequences);
    this.runner.forward(sequences, this.kv);
    const forwarded = traceNow();
    this.runner.biasLogits(this.logitBias(items));
    const requests = items.map(({ seq }) => ({
      spec: {
        temperature: seq.params.temperature,
        topK: seq.params.topK,
        topP: seq.params.topP,
        seed: seq.params.seed,
      },
      tokenIndex: seq.length - seq.promptLength,
    }));
    const queued = this.runner.queueSample(
      requests,
      items.some((item) => item.samples && item.seq.params.returnLogprob),
    );
    const chosen = maxOver(items, (item) => item.seq.params.tokenIdsLogprob.length);
    const topK = maxOver(items, (item) => item.seq.params.topLogprobsNum);
    const scored = items.some((item) => item.scores);
    const launched = traceNow();
    return {
      overlaps: this.overlap && this.group === null && !scored && chosen === 0 && topK === 0,
      collect: () => {
        const step: SampledStep = {
          ...queued.take(),
          ...(scored ? { inputLogprobs: this.inputLogprobs(items) } : {}),
          ...(chosen > 0 ? { tokenIdsLogprobs: this.tokenIdsLogprobs(items, chosen) } : {}),
          ...(topK > 0 ? { topLogprobs: this.topLogprobs(items, topK) } : {}),
        };
        if (stepTraceOn) {
          const tokens = items.reduce((n, item) => n + item.tokens.length, 0);
          const ms = (a: number, b: number) => (b - a).toFixed(2);
          console.error(
            `[step at ${start.toFixed(2)}] ${items.length} seqs, ${tokens} tokens: ` +
              `restore ${ms(start, restored)} ms, forward ${ms(restored, forwarded)} ms, ` +
              `sample ${ms(forwarded, launched)} ms, collected ${ms(launched, traceNow())} ms later`,
          );
        }
        return step;
      },
    };
  }

  /**
   * The step's logit biases: each sampling item's `logitBias`, and its end-of-sequence and stop
   * tokens banned while fewer than `minNewTokens` tokens would be out after this one.
   */
  private logitBias(items: readonly StepItem[]): LogitBias[] {
    const entries: LogitBias[] = [];
    for (const [row, { seq, samples }] of items.entries()) {
      if (!samples) continue;
      const { params } = seq;
      for (const [id, bias] of params.logitBias) entries.push({ row, id, bias });
      if (seq.length - seq.promptLength + 1 >= params.minNewTokens) continue;
      const banned = new Set([
        ...(params.ignoreEos ? [] : this.eosTokenIds),
        ...params.stopTokenIds,
      ]);
      for (const id of banned) entries.push({ row, id, bias: Number.NEGATIVE_INFINITY });
    }
    return entries;
  }

  /** Each sampling item's `topLogprobsNum` most likely tokens (one pass for the largest k). */
  private topLogprobs(items: readonly StepItem[], k: number): (TopLogprobs | undefined)[] {
    const top = this.runner.sampledTopLogprobs(k);
    return items.map((item, i) => {
      const own = item.samples ? item.seq.params.topLogprobsNum : 0;
      if (own === 0) return undefined;
      return {
        ids: top.ids[i]?.slice(0, own) ?? [],
        logprobs: top.logprobs[i]?.slice(0, own) ?? [],
      };
    });
  }

  /** Each sampling item's `tokenIdsLogprob` logprobs: one pass over the rows per id column. */
  private tokenIdsLogprobs(items: readonly StepItem[], columns: number): (number[] | undefined)[] {
    const wanted = (item: StepItem) => (item.samples ? item.seq.params.tokenIdsLogprob : []);
    const byColumn = Array.from({ length: columns }, (_, j) =>
      this.runner.sampledRowLogprobs(items.map((item) => wanted(item)[j] ?? 0)),
    );
    return items.map((item, i) => {
      const ids = wanted(item);
      return ids.length > 0 ? ids.map((_, j) => byColumn[j]?.[i] as number) : undefined;
    });
  }

  /**
   * Each scored item's input logprobs, its positions in order: the last pass computed a row
   * per item (its last token), then each item's extra rows; position p scores token p + 1.
   */
  private inputLogprobs(items: readonly StepItem[]): (number[] | undefined)[] {
    const targets = items.map((item) => {
      const last = item.cachedTokens + item.tokens.length - 1;
      return lastTokenScored(item) ? (item.seq.allTokens[last + 1] as number) : 0;
    });
    for (const item of items) {
      const first = item.scores?.first ?? 0;
      for (let j = 0; j < extraLogitRows(item); j++)
        targets.push(item.seq.allTokens[first + j + 1] as number);
    }
    const values = this.runner.rowLogprobs(targets);
    let extra = items.length;
    return items.map((item, i) => {
      if (!item.scores) return undefined;
      const own = values.slice(extra, extra + extraLogitRows(item));
      extra += own.length;
      return lastTokenScored(item) ? [...own, values[i] as number] : own;
    });
  }
}

/** The largest `of` over the items that sample (0 when none does). */
function maxOver(items: readonly StepItem[], of: (item: StepItem) => number): number {
  return Math.max(0, ...items.map((item) => (item.samples ? of(item) : 0)));
}
