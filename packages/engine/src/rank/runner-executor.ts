import type { KvPool } from '@ts/kv-pool';
import type { StepExecutor, StepItem } from '@ts/scheduler';
import type { ModelRunner } from '../model/model-runner.js';

/** Runs the scheduler's steps on the model runner: forward, then sample on the device. */
export class RunnerExecutor implements StepExecutor {
  constructor(
    private readonly runner: ModelRunner,
    private readonly kv: KvPool,
  ) {}

  execute(items: readonly StepItem[]): number[] {
    this.runner.forward(
      items.map((item) => ({
        tokens: item.tokens,
        cachedTokens: item.cachedTokens,
        pageTable: item.pageTable,
      })),
      this.kv,
    );
    return this.runner.sample(
      items.map(({ seq }) => ({
        spec: {
          temperature: seq.params.temperature,
          topK: seq.params.topK,
          topP: seq.params.topP,
          seed: seq.params.seed,
        },
        tokenIndex: seq.outputTokens.length,
      })),
    );
  }
}
