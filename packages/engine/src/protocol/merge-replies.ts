import type { ReleaseReply, ResumeReply, SleepStatus } from '@ts/memory-occupation';
import type { ControlResult } from '@ts/pause';
import { emptyStepStats, type StepStats } from '@ts/scheduler';
import type { FlushReply } from '../engine-api.js';
import type { ControlOpName, ControlReplies, ControlReply, RankStats } from './worker-protocol.js';

/** How one reply type is merged across ranks, and what it is when a rank cannot answer. */
interface ReplyRule<R extends ControlResult> {
  /** The reply of a rank that is gone, a worker that threw, or an engine shut down. */
  failed(message: string): R;
  /** Every field but `success` and `message` (which `result` gives) merged over the ranks. */
  merge(replies: readonly R[], result: ControlResult): R;
}

const union = (lists: readonly (readonly string[])[]) => [...new Set(lists.flat())];
const total = (values: readonly number[]) => values.reduce((n, v) => n + v, 0);

const controlResult: ReplyRule<ControlResult> = {
  failed: (message) => ({ success: false, message }),
  merge: (_replies, result) => result,
};

const flush: ReplyRule<FlushReply> = {
  failed: (message) => ({ success: false, message, freedPages: 0 }),
  merge: (replies, result) => ({ ...result, freedPages: total(replies.map((r) => r.freedPages)) }),
};

const release: ReplyRule<ReleaseReply> = {
  failed: (message) => ({
    success: false,
    message,
    releasedTags: [],
    freedBytes: 0,
    durationMs: 0,
  }),
  merge: (replies, result) => ({
    ...result,
    releasedTags: union(replies.map((r) => r.releasedTags)),
    freedBytes: total(replies.map((r) => r.freedBytes)),
    durationMs: Math.max(...replies.map((r) => r.durationMs)),
  }),
};

const resume: ReplyRule<ResumeReply> = {
  failed: (message) => ({
    success: false,
    message,
    releasedTags: [],
    resumedTags: [],
    repairedPools: [],
    durationMs: 0,
  }),
  merge: (replies, result) => ({
    ...result,
    releasedTags: union(replies.map((r) => r.releasedTags)),
    resumedTags: union(replies.map((r) => r.resumedTags)),
    // Each rank repairs its own pools, of the same names: the names, once.
    repairedPools: union(replies.map((r) => r.repairedPools)),
    durationMs: Math.max(...replies.map((r) => r.durationMs)),
  }),
};

const isSleeping: ReplyRule<SleepStatus> = {
  failed: (message) => ({
    success: false,
    message,
    isSleeping: false,
    releasedTags: [],
    residentBytes: {},
  }),
  merge: (replies, result) => {
    // The ranks that answered (a failed one knows nothing of its memory).
    const answered = replies.filter((r) => r.success);
    const merged: SleepStatus = {
      ...result,
      isSleeping: answered.some((r) => r.isSleeping),
      releasedTags: union(replies.map((r) => r.releasedTags)),
      residentBytes: sumBytes(replies.map((r) => r.residentBytes)),
    };
    if (answered.some((r) => r.isSleeping !== merged.isSleeping))
      merged.message = `ranks disagree: ${replies.map((r, i) => `rank ${i} ${r.isSleeping ? 'sleeping' : 'awake'}`).join(', ')}`;
    return merged;
  },
};

const stats: ReplyRule<RankStats> = {
  failed: (message) => ({
    success: false,
    message,
    residentBytes: {},
    waiting: 0,
    running: 0,
    forwardPasses: 0,
    usedPages: 0,
    totalPages: 0,
    steps: emptyStepStats(),
  }),
  merge: (replies, result) => ({
    ...result,
    residentBytes: sumBytes(replies.map((r) => r.residentBytes)),
    waiting: total(replies.map((r) => r.waiting)),
    running: total(replies.map((r) => r.running)),
    forwardPasses: total(replies.map((r) => r.forwardPasses)),
    usedPages: total(replies.map((r) => r.usedPages)),
    totalPages: total(replies.map((r) => r.totalPages)),
    steps: sumSteps(replies.map((r) => r.steps)),
  }),
};

/** The rule of each op's reply type, in one place. */
const rules: { [K in ControlOpName]: ReplyRule<ControlReplies[K]> } = {
  release,
  resume,
  isSleeping,
  pause: controlResult,
  continue: controlResult,
  flush,
  beginWeightUpdate: controlResult,
  endWeightUpdate: controlResult,
  updateWeightsFromDisk: controlResult,
  updateWeightsFromTensors: controlResult,
  stats,
};

/** Op `op`'s reply when it could not run: `success: false`, `message`, every other field empty. */
export function failedReply<K extends ControlOpName>(op: K, message: string): ControlReply<K> {
  return rules[op].failed(message) as ControlReply<K>;
}

/**
 * One reply of op `op` for all data-parallel ranks (spec rule 11): it succeeds only if every
 * rank did and names the ranks that failed; a rank that sleeps makes the engine sleep;
 * released tags are the union; byte counts and queue sizes add up; durations are the longest.
 * Every field of the op's reply type is kept.
 */
export function mergeReplies<K extends ControlOpName>(
  op: K,
  replies: readonly ControlReply<K>[],
): ControlReply<K> {
  if (replies.length === 1) return replies[0] as ControlReply<K>;
  const failed = replies.flatMap((r, rank) => (r.success ? [] : [`rank ${rank}: ${r.message}`]));
  const result: ControlResult = {
    success: failed.length === 0,
    message:
      failed.length > 0
        ? `failed on ${failed.length} of ${replies.length} ranks: ${failed.join('; ')}`
        : (replies[0]?.message ?? ''),
  };
  const rule = rules[op] as ReplyRule<ControlReply<K>>;
  return rule.merge(replies, result);
}

/** Bytes per tag, added up over the ranks. */
function sumBytes(perRank: readonly Record<string, number>[]): Record<string, number> {
  const sum: Record<string, number> = {};
  for (const bytes of perRank)
    for (const [tag, n] of Object.entries(bytes)) sum[tag] = (sum[tag] ?? 0) + n;
  return sum;
}

/** The ranks' step sums added up, field by field. */
function sumSteps(steps: readonly StepStats[]): StepStats {
  const sum = { ...(steps[0] ?? emptyStepStats()) };
  for (const s of steps.slice(1))
    for (const key of Object.keys(sum) as (keyof StepStats)[]) sum[key] += s[key];
  return sum;
}
