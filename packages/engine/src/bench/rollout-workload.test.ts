import { describe, expect, it } from 'vitest';
import { rolloutRequests, seededRandom } from './rollout-workload.js';

const shape = {
  prompts: 3,
  samples: 8,
  minPrompt: 256,
  maxPrompt: 1024,
  maxNewTokens: 4096,
  medianNewTokens: 683,
  lengthSigma: 1,
  seed: 7,
};

describe('rolloutRequests', () => {
  it('repeats for a seed and differs across seeds', () => {
    expect(rolloutRequests(shape, 1000)).toEqual(rolloutRequests(shape, 1000));
    expect(rolloutRequests({ ...shape, seed: 8 }, 1000)).not.toEqual(rolloutRequests(shape, 1000));
    const random = seededRandom(1);
    const draws = Array.from({ length: 1000 }, random);
    expect(draws.every((x) => x >= 0 && x < 1)).toBe(true);
  });

  it('gives each prompt n samples, each its own seed and length, all within bounds', () => {
    const requests = rolloutRequests(shape, 1000);
    expect(requests).toHaveLength(24);
    expect(new Set(requests.map((r) => r.rid)).size).toBe(24);
    for (let p = 0; p < 3; p++) {
      const group = requests.slice(p * 8, p * 8 + 8);
      expect(new Set(group.map((r) => r.inputIds)).size).toBe(1);
      expect(new Set(group.map((r) => r.seed)).size).toBe(8);
      const length = group[0]?.inputIds.length ?? 0;
      expect(length).toBeGreaterThanOrEqual(256);
      expect(length).toBeLessThanOrEqual(1024);
    }
    const ids = requests.flatMap((r) => r.inputIds);
    expect(ids.every((id) => Number.isInteger(id) && id >= 0 && id < 1000)).toBe(true);
    const lengths = requests.map((r) => r.maxNewTokens);
    expect(lengths.every((n) => Number.isInteger(n) && n >= 1 && n <= 4096)).toBe(true);
    expect(new Set(lengths).size).toBeGreaterThan(12);
  });

  it('draws long-tailed lengths: the mean above the median, some at the cap', () => {
    const many = rolloutRequests({ ...shape, prompts: 250, minPrompt: 1, maxPrompt: 1 }, 10);
    const lengths = many.map((r) => r.maxNewTokens).sort((a, b) => a - b);
    const median = lengths[lengths.length / 2] as number;
    const mean = lengths.reduce((a, b) => a + b, 0) / lengths.length;
    expect(median).toBeGreaterThan(683 * 0.85);
    expect(median).toBeLessThan(683 * 1.15);
    expect(mean).toBeGreaterThan(median * 1.3);
    expect(lengths.filter((n) => n === 4096).length).toBeGreaterThan(20);
  });
});
