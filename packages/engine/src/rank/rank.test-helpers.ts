import { createMemorySaver, type MemorySaver } from '@ts/memory-saver-native';
import { type LoopEvent, Sequence, samplingParams } from '@ts/scheduler';
import { openBuiltinTiny } from '../model/builtin-tiny.js';
import type { OpenedCheckpoint } from '../model/loader/open-checkpoint.js';
import { DEVICE } from '../model/runner.test-helpers.js';
import { createRank, type Rank, type RankOptions } from './rank.js';

export interface RankHarness {
  saver: MemorySaver;
  /** Free device memory before the rank allocated anything. */
  freeAtStart: number;
  rank: Rank;
  running: Promise<void>;
  /** Submits a greedy request; resolves with its output tokens when it finishes. */
  generate(id: string, prompt: number[], maxNewTokens: number): Promise<number[]>;
  events: LoopEvent[];
  stop(): Promise<void>;
}

export async function startRank(
  options: Partial<RankOptions> = {},
  checkpoint: OpenedCheckpoint = openBuiltinTiny(),
): Promise<RankHarness> {
  const saver = createMemorySaver({ device: DEVICE });
  const freeAtStart = saver.deviceMemory().free;
  const waiters = new Map<string, (tokens: number[]) => void>();
  const events: LoopEvent[] = [];
  const rank = await createRank(
    saver,
    checkpoint,
    {
      dtype: 'float32',
      pageSize: 8,
      numPages: 256,
      maxRunning: 16,
      maxBatchTokens: 256,
      maxContext: 512,
      prefixCache: true,
      ...options,
    },
    (event) => {
      events.push(event);
      if (event.finishReason) waiters.get(event.seq.id)?.(event.seq.outputTokens);
    },
  );
  const running = rank.run();
  return {
    saver,
    freeAtStart,
    rank,
    running,
    events,
    generate: (id, prompt, maxNewTokens) =>
      new Promise((resolve) => {
        waiters.set(id, resolve);
        rank.loop.submit(
          new Sequence(id, prompt, samplingParams({ maxNewTokens, ignoreEos: true })),
        );
      }),
    stop: async () => {
      rank.loop.stop();
      await running;
    },
  };
}

export function promptOf(length: number, seed: number): number[] {
  return Array.from({ length }, (_, i) => (i * 37 + seed * 101) % 256);
}
