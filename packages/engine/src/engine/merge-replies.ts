import type { StepStats } from '@ts/scheduler';
import type { ControlReplyData } from './worker-protocol.js';

/**
 * One reply for all data-parallel ranks (spec rule 11): it succeeds only if every rank did and
 * names the ranks that failed; a rank that sleeps makes the engine sleep; released tags are the
 * union; byte counts add up.
 */
export function mergeReplies(replies: readonly ControlReplyData[]): ControlReplyData {
  if (replies.length === 1) return replies[0] as ControlReplyData;
  const failed = replies.flatMap((r, rank) => (r.success ? [] : [`rank ${rank}: ${r.message}`]));
  const merged: ControlReplyData = {
    success: failed.length === 0,
    message:
      failed.length > 0
        ? `failed on ${failed.length} of ${replies.length} ranks: ${failed.join('; ')}`
        : (replies[0]?.message ?? ''),
  };
  const sleeping = replies.filter((r) => r.isSleeping !== undefined);
  if (sleeping.length > 0) {
    merged.isSleeping = sleeping.some((r) => r.isSleeping);
    if (sleeping.some((r) => r.isSleeping !== merged.isSleeping)) {
      merged.message = `ranks disagree: ${replies.map((r, i) => `rank ${i} ${r.isSleeping ? 'sleeping' : 'awake'}`).join(', ')}`;
    }
  }
  if (replies.some((r) => r.releasedTags)) {
    merged.releasedTags = [...new Set(replies.flatMap((r) => r.releasedTags ?? []))];
  }
  if (replies.some((r) => r.durationMs !== undefined))
    merged.durationMs = Math.max(...replies.map((r) => r.durationMs ?? 0));
  if (replies.some((r) => r.residentBytes)) {
    const sum: Record<string, number> = {};
    for (const r of replies)
      for (const [tag, bytes] of Object.entries(r.residentBytes ?? {}))
        sum[tag] = (sum[tag] ?? 0) + bytes;
    merged.residentBytes = sum;
  }
  for (const key of ['waiting', 'running', 'forwardPasses', 'usedPages', 'totalPages'] as const) {
    if (replies.some((r) => r[key] !== undefined))
      merged[key] = replies.reduce((n, r) => n + (r[key] ?? 0), 0);
  }
  const steps = replies.flatMap((r) => (r.steps ? [r.steps] : []));
  if (steps.length > 0) merged.steps = sumSteps(steps);
  return merged;
}

/** The ranks' step sums added up, field by field. */
function sumSteps(steps: readonly StepStats[]): StepStats {
  const sum = { ...(steps[0] as StepStats) };
  for (const s of steps.slice(1))
    for (const key of Object.keys(sum) as (keyof StepStats)[]) sum[key] += s[key];
  return sum;
}
