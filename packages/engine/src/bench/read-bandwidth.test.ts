import { createMemorySaver } from '@ts/memory-saver-native';
import { describe, expect, it } from 'vitest';
import { cpuModelName, formatCount, formatRate, median } from './format.js';
import { measureReadBandwidth } from './read-bandwidth.js';

describe('read bandwidth', () => {
  it('times checksum passes over a buffer it frees again', async () => {
    const saver = createMemorySaver({ device: 'cpu' });
    const bytes = 16 * 1024 * 1024;
    const result = await measureReadBandwidth(saver, bytes, 3);
    expect(result.bytes).toBe(bytes);
    expect(result.gbPerS).toBeGreaterThan(0);
    expect(result.cachedGbPerS).toBeGreaterThan(0);
    expect(saver.bytes('bench')).toBe(0);
  });

  it('formats counts and rates, and names the CPU', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(Number.isNaN(median([]))).toBe(true);
    expect([100.09, 1235.8, 35.24, 0.1234].map(formatCount)).toEqual([
      '100.1',
      '1235.8',
      '35.2',
      '0.123',
    ]);
    expect(formatCount(Number.NaN)).toBe('-');
    expect([23.46, 1234.5, Number.POSITIVE_INFINITY].map(formatRate)).toEqual([
      '23.5',
      '1235',
      '-',
    ]);
    expect(cpuModelName().length).toBeGreaterThan(0);
  });
});
