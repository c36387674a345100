import { emptyStepStats } from '@ts/scheduler';
import { describe, expect, it } from 'vitest';
import { failedReply, mergeReplies } from './merge-replies.js';
import type { RankStats } from './worker-protocol.js';

const release = (success: boolean, message: string, releasedTags: string[], ms: number) => ({
  success,
  message,
  releasedTags,
  freedBytes: 100 * releasedTags.length,
  durationMs: ms,
});

const stats = (over: Partial<RankStats>): RankStats => ({
  ...failedReply('stats', 'ok'),
  success: true,
  ...over,
});

describe('mergeReplies (spec rule 11)', () => {
  it('passes one rank through unchanged', () => {
    const only = release(false, 'tags not released: [kv_cache]', [], 1);
    expect(mergeReplies('release', [only])).toBe(only);
  });

  it('succeeds only when every rank did, and names the ranks that failed', () => {
    const merged = mergeReplies('release', [
      release(true, 'released [weights]', ['weights'], 5),
      release(false, 'cuMemCreate failed: CUDA_ERROR_OUT_OF_MEMORY', [], 9),
    ]);
    expect(merged).toEqual({
      success: false,
      message: 'failed on 1 of 2 ranks: rank 1: cuMemCreate failed: CUDA_ERROR_OUT_OF_MEMORY',
      releasedTags: ['weights'],
      freedBytes: 100,
      durationMs: 9,
    });
    expect(
      mergeReplies('pause', [
        { success: true, message: 'a' },
        { success: true, message: 'b' },
      ]),
    ).toEqual({
      success: true,
      message: 'a',
    });
  });

  it('keeps every field of a resume: tags and pools once, the longest duration', () => {
    const rank = (ms: number) => ({
      success: true,
      message: 'resumed [kv_cache]',
      releasedTags: [],
      resumedTags: ['kv_cache'],
      repairedPools: ['target'],
      durationMs: ms,
    });
    expect(mergeReplies('resume', [rank(3), rank(7)])).toEqual({
      ...rank(7),
      message: 'resumed [kv_cache]',
    });
  });

  it('a rank that cannot answer gives a reply of the op type with empty fields', () => {
    expect(failedReply('isSleeping', 'rank 1 exited')).toEqual({
      success: false,
      message: 'rank 1 exited',
      isSleeping: false,
      releasedTags: [],
      residentBytes: {},
    });
    expect(failedReply('pause', 'gone')).toEqual({ success: false, message: 'gone' });
    expect(failedReply('flush', 'gone')).toEqual({
      success: false,
      message: 'gone',
      freedPages: 0,
    });
  });

  it('sleeps if any rank sleeps and says when ranks disagree', () => {
    const merged = mergeReplies('isSleeping', [
      { success: true, message: 'awake', isSleeping: false, releasedTags: [], residentBytes: {} },
      {
        success: true,
        message: 'released: [kv_cache]',
        isSleeping: true,
        releasedTags: ['kv_cache'],
        residentBytes: { weights: 10 },
      },
    ]);
    expect(merged).toMatchObject({
      isSleeping: true,
      releasedTags: ['kv_cache'],
      residentBytes: { weights: 10 },
    });
    expect(merged.message).toBe('ranks disagree: rank 0 awake, rank 1 sleeping');
  });

  it('a rank that failed does not make the ranks disagree', () => {
    const merged = mergeReplies('isSleeping', [
      {
        success: true,
        message: 'released: [kv_cache]',
        isSleeping: true,
        releasedTags: ['kv_cache'],
        residentBytes: {},
      },
      failedReply('isSleeping', 'rank 1 exited'),
    ]);
    expect(merged).toMatchObject({
      success: false,
      message: 'failed on 1 of 2 ranks: rank 1: rank 1 exited',
      isSleeping: true,
    });
  });

  it("adds up a flush's freed pages", () => {
    const rank = (freedPages: number) => ({ success: true, message: 'flushed', freedPages });
    expect(mergeReplies('flush', [rank(2), rank(3)])).toEqual(rank(5));
  });

  it('adds up bytes and queue sizes', () => {
    const merged = mergeReplies('stats', [
      stats({ residentBytes: { weights: 10, kv_cache: 4 }, waiting: 1, running: 2 }),
      stats({ residentBytes: { weights: 10 }, waiting: 0, running: 3 }),
    ]);
    expect(merged).toMatchObject({
      residentBytes: { weights: 20, kv_cache: 4 },
      waiting: 1,
      running: 5,
    });
  });

  it("adds up the ranks' step sums, field by field", () => {
    const steps = (passes: number, executeMs: number) => ({
      ...emptyStepStats(),
      passes,
      sequences: 2 * passes,
      tokens: 3 * passes,
      decodeSequences: passes,
      decodeContextTokens: 100 * passes,
      executeMs,
    });
    const merged = mergeReplies('stats', [
      stats({ steps: steps(4, 1.5) }),
      stats({ steps: steps(6, 2) }),
    ]);
    expect(merged.steps).toEqual(steps(10, 3.5));
  });
});
