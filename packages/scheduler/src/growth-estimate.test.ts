import { describe, expect, it } from 'vitest';
import { GrowthEstimate, MAX_RESERVED_NEW_TOKENS } from './growth-estimate.js';
import { request } from './scheduler.test-helpers.js';

const generated = (maxNewTokens: number, produced: number) => {
  const seq = request('s', [1, 2, 3], maxNewTokens);
  seq.status = 'running';
  for (let i = 0; i < produced; i++) seq.appendToken(7);
  return seq;
};

describe('GrowthEstimate', () => {
  it('starts at 0.7 of what running requests may still generate, and decays to 0.1 in 600 steps', () => {
    const growth = new GrowthEstimate();
    const running = [generated(100, 0), generated(100, 60)];
    expect(growth.ratio).toBe(0.7);
    expect(growth.reservedTokens(running)).toBe(70 + 28);
    for (let i = 0; i < 300; i++) growth.decay();
    expect(growth.ratio).toBeCloseTo(0.4, 10);
    for (let i = 0; i < 400; i++) growth.decay();
    expect(growth.ratio).toBe(0.1);
    expect(growth.reservedTokens(running)).toBe(10 + 4);
  });

  it('clips each budget, and keeps a new request its whole clipped budget', () => {
    const growth = new GrowthEstimate();
    const long = generated(100_000, 0);
    expect(growth.admissionTokens(long)).toBe(MAX_RESERVED_NEW_TOKENS);
    expect(growth.reservedTokens([long])).toBe(Math.ceil(MAX_RESERVED_NEW_TOKENS * 0.7));
  });

  it('a retraction raises the ratio to the share the batch had produced, plus 20 steps each', () => {
    const growth = new GrowthEstimate();
    for (let i = 0; i < 600; i++) growth.decay();
    growth.retracted([generated(100, 50), generated(100, 30)]);
    expect(growth.ratio).toBeCloseTo((80 + 40) / 200, 10);
    growth.retracted([generated(100, 1)]);
    expect(growth.ratio).toBeCloseTo(0.6, 10);
    growth.retracted([generated(10, 9)]);
    expect(growth.ratio).toBe(1);
  });

  it('scales with the conservativeness; 0 keeps nothing; a negative one is refused', () => {
    const cautious = new GrowthEstimate(2);
    expect(cautious.ratio).toBe(1);
    for (let i = 0; i < 600; i++) cautious.decay();
    expect(cautious.ratio).toBeCloseTo(0.2, 10);
    const none = new GrowthEstimate(0);
    none.retracted([generated(10, 9)]);
    expect(none.reservedTokens([generated(100, 0)])).toBe(0);
    expect(none.admissionTokens(generated(100, 0))).toBe(0);
    expect(() => new GrowthEstimate(-1)).toThrow('scheduleConservativeness must be a number >= 0');
  });
});
