import { PageAllocator } from '@ts/kv-pool';
import { PrefixCache } from './prefix-cache.js';
import type { StepExecutor } from './rank-loop.js';
import { samplingParams } from './sampling-params.js';
import { Scheduler, type SchedulerOptions, type StepItem } from './scheduler.js';
import { Sequence } from './sequence.js';

/**
 * A stand-in model whose next token depends on the whole sequence so far, so a wrong
 * recompute after retraction or a wrong prefix hit shows up in the tokens.
 */
export function nextToken(tokens: readonly number[]): number {
  let h = 17;
  for (const t of tokens) h = (h * 31 + t) % 1000003;
  return h % 97;
}

export const countingExecutor = {
  execute: (items: readonly StepItem[]): number[] =>
    items.map((item) =>
      nextToken(item.seq.allTokens.slice(0, item.cachedTokens + item.tokens.length)),
    ),
} satisfies StepExecutor;

export function setup(
  options: Partial<SchedulerOptions> & { pages?: number; cache?: boolean } = {},
) {
  const pages = new PageAllocator(options.pages ?? 64);
  const pageSize = options.pageSize ?? 4;
  const cache = options.cache === false ? null : new PrefixCache(pages, pageSize);
  const scheduler = new Scheduler(pages, cache, {
    pageSize,
    maxRunning: options.maxRunning ?? 8,
    maxBatchTokens: options.maxBatchTokens ?? 64,
    eosTokenIds: options.eosTokenIds ?? [],
    ...(options.maxSequenceLength ? { maxSequenceLength: options.maxSequenceLength } : {}),
    ...(options.maxInputLogprobRows ? { maxInputLogprobRows: options.maxInputLogprobRows } : {}),
    ...(options.scheduleConservativeness !== undefined
      ? { scheduleConservativeness: options.scheduleConservativeness }
      : {}),
  });
  return { pages, cache, scheduler };
}

export function request(id: string, prompt: number[], maxNewTokens = 8): Sequence {
  return new Sequence(id, prompt, samplingParams({ maxNewTokens }));
}

/** What the stand-in model generates for `prompt` when run alone. */
export function expectedOutput(prompt: readonly number[], count: number): number[] {
  const tokens = [...prompt];
  for (let i = 0; i < count; i++) tokens.push(nextToken(tokens));
  return tokens.slice(prompt.length);
}

/** Runs the scheduler to completion with the stand-in model; returns outputs by id. */
export async function drain(s: Scheduler, maxSteps = 10_000): Promise<Map<string, number[]>> {
  const outputs = new Map<string, number[]>();
  for (let step = 0; s.hasWork && step < maxSteps; step++) {
    const items = s.schedule(true);
    const sampled = await countingExecutor.execute(items);
    for (const event of s.postprocess(items, sampled)) {
      if (event.finishReason) outputs.set(event.seq.id, event.seq.outputTokens);
    }
  }
  return outputs;
}

/** Stand-in input logprobs for a step: -(p + 1) for each scored position p of each item. */
export function standInInputLogprobs(items: readonly StepItem[]): (number[] | undefined)[] {
  return items.map((item) => {
    const scores = item.scores;
    return scores
      ? Array.from({ length: scores.count }, (_, j) => -(scores.first + j + 1))
      : undefined;
  });
}
