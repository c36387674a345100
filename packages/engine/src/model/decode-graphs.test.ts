import { describe, expect, it } from 'vitest';
import { decodeBucket } from './decode-graphs.js';

describe('decodeBucket', () => {
  it('pads to 1, 2, 4, 8, then multiples of 8, never past the cap', () => {
    expect([1, 2, 3, 5, 8, 9, 17, 64, 65].map((n) => decodeBucket(n, 256))).toEqual([
      1, 2, 4, 8, 8, 16, 24, 64, 72,
    ]);
    expect(decodeBucket(5, 6)).toBe(6);
    expect(decodeBucket(30, 30)).toBe(30);
  });
});
