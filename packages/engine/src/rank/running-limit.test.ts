import { describe, expect, it } from 'vitest';
import { derivedMaxRunning, MAX_DERIVED_RUNNING } from './running-limit.js';

describe('derivedMaxRunning', () => {
  it('caps the batch at a page per sequence, the largest batch, and the token budget of a pass', () => {
    expect(derivedMaxRunning({ totalPages: 64, maxBatchTokens: 2048 })).toBe(64);
    expect(derivedMaxRunning({ totalPages: 1_000_000, maxBatchTokens: 2048 })).toBe(
      MAX_DERIVED_RUNNING,
    );
    expect(derivedMaxRunning({ totalPages: 1_000_000, maxBatchTokens: 100 })).toBe(100);
  });

  it('keeps at least one sequence running', () => {
    expect(derivedMaxRunning({ totalPages: 0, maxBatchTokens: 2048 })).toBe(1);
  });
});
