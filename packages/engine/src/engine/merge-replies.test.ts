import { describe, expect, it } from 'vitest';
import { mergeReplies } from './merge-replies.js';

describe('mergeReplies (spec rule 11)', () => {
  it('passes one rank through unchanged', () => {
    const only = { success: false, message: 'tags not released: [kv_cache]' };
    expect(mergeReplies([only])).toBe(only);
  });

  it('succeeds only when every rank did, and names the ranks that failed', () => {
    const merged = mergeReplies([
      { success: true, message: 'released [weights]', releasedTags: ['weights'], durationMs: 5 },
      {
        success: false,
        message: 'cuMemCreate failed: CUDA_ERROR_OUT_OF_MEMORY',
        releasedTags: [],
        durationMs: 9,
      },
    ]);
    expect(merged).toMatchObject({
      success: false,
      message: 'failed on 1 of 2 ranks: rank 1: cuMemCreate failed: CUDA_ERROR_OUT_OF_MEMORY',
      releasedTags: ['weights'],
      durationMs: 9,
    });
    expect(
      mergeReplies([
        { success: true, message: 'a' },
        { success: true, message: 'b' },
      ]),
    ).toEqual({
      success: true,
      message: 'a',
    });
  });

  it('sleeps if any rank sleeps and says when ranks disagree', () => {
    const merged = mergeReplies([
      { success: true, message: 'awake', isSleeping: false, releasedTags: [] },
      {
        success: true,
        message: 'released: [kv_cache]',
        isSleeping: true,
        releasedTags: ['kv_cache'],
      },
    ]);
    expect(merged).toMatchObject({ isSleeping: true, releasedTags: ['kv_cache'] });
    expect(merged.message).toBe('ranks disagree: rank 0 awake, rank 1 sleeping');
  });

  it('adds up bytes and queue sizes', () => {
    const merged = mergeReplies([
      {
        success: true,
        message: 'ok',
        residentBytes: { weights: 10, kv_cache: 4 },
        waiting: 1,
        running: 2,
      },
      { success: true, message: 'ok', residentBytes: { weights: 10 }, waiting: 0, running: 3 },
    ]);
    expect(merged).toMatchObject({
      residentBytes: { weights: 20, kv_cache: 4 },
      waiting: 1,
      running: 5,
    });
  });

  it("adds up the ranks' step sums, field by field", () => {
    const steps = (passes: number, executeMs: number) => ({
      passes,
      sequences: 2 * passes,
      tokens: 3 * passes,
      decodeSequences: passes,
      decodeContextTokens: 100 * passes,
      executeMs,
    });
    const merged = mergeReplies([
      { success: true, message: 'ok', steps: steps(4, 1.5) },
      { success: true, message: 'ok', steps: steps(6, 2) },
    ]);
    expect(merged.steps).toEqual(steps(10, 3.5));
  });
});
