import { describe, expect, it } from 'vitest';
import { derivedMaxRunning, MAX_DERIVED_RUNNING } from './running-limit.js';

const limits = { pageSize: 16, maxContext: 2048, maxBatchTokens: 2048 };

describe('derivedMaxRunning', () => {
  it('runs as many sequences as the pool holds at half the context each', () => {
    // Half of 2048 tokens is 64 pages of 16.
    expect(derivedMaxRunning({ ...limits, totalPages: 64 * 10 })).toBe(10);
    expect(derivedMaxRunning({ ...limits, totalPages: 64 * 10 + 63 })).toBe(10);
    expect(derivedMaxRunning({ ...limits, totalPages: 64 * 37, maxContext: 2047 })).toBe(37);
  });

  it('keeps at least one sequence running in a pool smaller than half a context', () => {
    expect(derivedMaxRunning({ ...limits, totalPages: 3 })).toBe(1);
    expect(derivedMaxRunning({ ...limits, totalPages: 0 })).toBe(1);
  });

  it('caps a big pool at the largest batch, and at the token budget of a pass', () => {
    expect(derivedMaxRunning({ ...limits, totalPages: 1_000_000 })).toBe(MAX_DERIVED_RUNNING);
    expect(derivedMaxRunning({ ...limits, totalPages: 1_000_000, maxBatchTokens: 100 })).toBe(100);
  });
});
