import { afterEach, describe, expect, it } from 'vitest';
import { type LoopHarness, loopHarness } from './rank-loop.test-helpers.js';

let harness: LoopHarness | undefined;
afterEach(async () => {
  harness?.loop.stop();
  await harness?.running;
});

describe('RankLoop.stepStats', () => {
  it('sums each pass: its sequences, its tokens, and the context of each decode', async () => {
    harness = loopHarness();
    const h = harness;
    expect(h.loop.stepStats).toMatchObject({ passes: 0, sequences: 0, executeMs: 0 });
    h.submit('a', [1, 2, 3, 4, 5], 6);
    h.submit('b', [9, 8, 7, 6, 5, 4, 3, 2, 1], 6);
    await h.settle();
    const stats = h.loop.stepStats;
    // One pass prefills both (and samples their first tokens), then five decode both.
    expect(stats).toMatchObject({ passes: 6, sequences: 12, tokens: 5 + 9 + 10 });
    expect(stats.decodeSequences).toBe(10);
    // a decodes at contexts 6..10, b at 10..14.
    expect(stats.decodeContextTokens).toBe(6 + 7 + 8 + 9 + 10 + (10 + 11 + 12 + 13 + 14));
    expect(stats.executeMs).toBeGreaterThanOrEqual(0);
    expect(stats.passes).toBe(h.loop.passes);
  });
});
