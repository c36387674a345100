import type { KvPool } from '@ts/kv-pool';
import { GREEDY } from '../model/forward-batch.js';
import type { ModelRunner, RunnerLimits } from '../model/model-runner.js';

/** One batch's work: `batch` prompts of `promptTokens` tokens, then `newTokens` decode steps. */
export interface DecodeWorkload {
  batch: number;
  promptTokens: number;
  newTokens: number;
}

/** The keys the first decode step attends over after no prefill, for a mean context `context`. */
export const firstDecodeContext = (context: number, newTokens: number): number =>
  Math.max(1, context - Math.floor(newTokens / 2));

export interface DecodeTimes {
  /** The prefill pass: one forward of all prompts and the sampling of their first tokens. */
  prefillMs: number;
  /** `newTokens` steps of one token per sequence, all sequences in every step. */
  decodeMs: number;
  /** The tokens each sequence generated (the prefill's first, then one per decode step). */
  generated: number[][];
}

export const pagesPerSequence = (w: DecodeWorkload, pageSize: number): number =>
  Math.ceil((w.promptTokens + w.newTokens) / pageSize);

/**
 * Runner limits that fit every workload (prefill in one pass unless `prefill` is false, logits
 * of the last rows only).
 */
export function limitsFor(
  workloads: readonly DecodeWorkload[],
  pageSize: number,
  prefill = true,
): RunnerLimits {
  const max = (f: (w: DecodeWorkload) => number) => Math.max(...workloads.map(f));
  const maxSeqs = max((w) => w.batch);
  return {
    maxTokens: prefill ? max((w) => w.batch * w.promptTokens) : maxSeqs,
    maxSeqs,
    maxPagesPerSeq: max((w) => pagesPerSequence(w, pageSize)),
    maxLogitRows: maxSeqs,
  };
}

/** `count` prompts of seeded random token ids in [0, vocabSize), different for each prompt. */
export function randomPrompts(
  count: number,
  length: number,
  vocabSize: number,
  seed = 1,
): number[][] {
  let state = seed >>> 0 || 1;
  const next = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state;
  };
  return Array.from({ length: count }, () => Array.from({ length }, () => next() % vocabSize));
}

/**
 * `newTokens` greedy decode steps, one token per sequence each, the first after `cachedTokens`
 * positions: the tokens of each step.
 */
function decodeSteps(
  runner: ModelRunner,
  kv: KvPool,
  firstTokens: readonly number[],
  pageTables: readonly (readonly number[])[],
  cachedTokens: number,
  newTokens: number,
): number[][] {
  const steps: number[][] = [];
  let last = [...firstTokens];
  for (let step = 0; step < newTokens; step++) {
    runner.forward(
      last.map((token, i) => ({
        tokens: [token],
        cachedTokens: cachedTokens + step,
        pageTable: pageTables[i] ?? [],
      })),
      kv,
    );
    last = runner.sample(last.map(() => ({ spec: GREEDY, tokenIndex: step + 1 })));
    steps.push(last);
  }
  return steps;
}

/**
 * Times `newTokens` greedy decode steps of `batch` sequences with no prefill: the first step
 * attends over `firstDecodeContext` keys of whatever the pool holds (zeros when fresh), as a
 * decode benchmark over a long context needs and a prefill of batch × context tokens could not.
 */
export function timeDecodeOverContext(
  runner: ModelRunner,
  kv: KvPool,
  firstTokens: readonly number[],
  context: number,
  newTokens: number,
): number {
  const start = firstDecodeContext(context, newTokens);
  const pageTables = firstTokens.map(() =>
    kv.pages.allocate(Math.ceil((start + newTokens) / kv.shape.pageSize)),
  );
  try {
    const begin = performance.now();
    decodeSteps(runner, kv, firstTokens, pageTables, start - 1, newTokens);
    return performance.now() - begin;
  } finally {
    for (const pages of pageTables) kv.pages.release(pages);
  }
}

/**
 * Runs one workload greedily and times its prefill and its decode steps apart. The KV pages it
 * takes are given back before it returns.
 */
export function timePrefillAndDecode(
  runner: ModelRunner,
  kv: KvPool,
  prompts: readonly (readonly number[])[],
  newTokens: number,
): DecodeTimes {
  const promptTokens = prompts[0]?.length ?? 0;
  const workload = { batch: prompts.length, promptTokens, newTokens };
  const pageTables = prompts.map(() =>
    kv.pages.allocate(pagesPerSequence(workload, kv.shape.pageSize)),
  );
  try {
    const requests = (index: number) => prompts.map(() => ({ spec: GREEDY, tokenIndex: index }));
    let start = performance.now();
    runner.forward(
      prompts.map((tokens, i) => ({ tokens, cachedTokens: 0, pageTable: pageTables[i] ?? [] })),
      kv,
    );
    const last = runner.sample(requests(0));
    const prefillMs = performance.now() - start;
    start = performance.now();
    const steps = decodeSteps(runner, kv, last, pageTables, promptTokens, newTokens);
    const decodeMs = performance.now() - start;
    const generated = last.map((token, i) => [token, ...steps.map((tokens) => tokens[i] ?? 0)]);
    return { prefillMs, decodeMs, generated };
  } finally {
    for (const pages of pageTables) kv.pages.release(pages);
  }
}
