import type { KvPool } from '@ts/kv-pool';
import type { MemorySaver } from '@ts/memory-saver-native';
import type { SampledStep, StepExecutor, StepItem } from '@ts/scheduler';
import type { ModelRunner } from '../model/model-runner.js';
import type { LoadedWeights } from '../model/weights/load-weights.js';
import { stepTraceOn, traceNow } from '../trace/step-trace.js';

/**
 * Runs the scheduler's steps on the model runner: forward, then sample on the device. The
 * weights' restore after a resume is deferred (an update may replace them first), so the first
 * step after a wake copies them back before any kernel reads them.
 */
export class RunnerExecutor implements StepExecutor {
  constructor(
    private readonly runner: ModelRunner,
    private readonly kv: KvPool,
    private readonly saver: MemorySaver,
    private readonly weights: LoadedWeights,
  ) {}

  async execute(items: readonly StepItem[]): Promise<SampledStep> {
    const start = traceNow();
    if (this.saver.restorePending(this.weights.allocation))
      await this.saver.restore(this.weights.allocation);
    const restored = traceNow();
    this.runner.forward(
      items.map((item) => ({
        tokens: item.tokens,
        cachedTokens: item.cachedTokens,
        pageTable: item.pageTable,
      })),
      this.kv,
    );
    const forwarded = traceNow();
    const requests = items.map(({ seq }) => ({
      spec: {
        temperature: seq.params.temperature,
        topK: seq.params.topK,
        topP: seq.params.topP,
        seed: seq.params.seed,
      },
      tokenIndex: seq.length - seq.promptLength,
    }));
    const sampled = items.some((item) => item.samples && item.seq.params.returnLogprob)
      ? this.runner.sampleWithLogprobs(requests)
      : { tokens: this.runner.sample(requests) };
    if (stepTraceOn) {
      const tokens = items.reduce((n, item) => n + item.tokens.length, 0);
      const ms = (a: number, b: number) => (b - a).toFixed(2);
      console.error(
        `[step at ${start.toFixed(2)}] ${items.length} seqs, ${tokens} tokens: ` +
          `restore ${ms(start, restored)} ms, ` +
          `forward ${ms(restored, forwarded)} ms, sample + wait ${ms(forwarded, traceNow())} ms`,
      );
    }
    return sampled;
  }
}
