import { describe, expect, it } from 'vitest';
import { readBenchOptions, requestedDevice } from './bench-options.js';

describe('decode bench options', () => {
  it('defaults by device, flags over defaults', () => {
    expect(requestedDevice([])).toBe('auto');
    expect(requestedDevice(['--device', 'cpu'])).toBe('cpu');
    expect(readBenchOptions(['--device', 'cpu'], 'cpu')).toEqual({
      model: 'random:100m',
      dtype: 'float32',
      batches: [1, 8],
      promptTokens: 128,
      newTokens: 32,
      context: null,
      launches: true,
      deterministic: false,
      reps: 5,
      bandwidthBytes: 1024 ** 3,
      pageSize: 16,
      seed: 0,
    });
    const cuda = readBenchOptions(['--model', '/m', '--batches', '1,64', '--reps', '3'], 'cuda');
    expect(cuda).toMatchObject({
      model: '/m',
      dtype: 'bfloat16',
      batches: [1, 64],
      newTokens: 128,
      bandwidthBytes: 8 * 1024 ** 3,
    });
    expect(cuda.reps).toBe(3);
    expect(
      readBenchOptions(['--context', '2048', '--graphs-only', '--deterministic'], 'cuda'),
    ).toMatchObject({ context: 2048, launches: false, deterministic: true });
    expect(readBenchOptions(['--bandwidth-gib', '0.5'], 'cpu').bandwidthBytes).toBe(
      512 * 1024 ** 2,
    );
  });

  it('rejects what it cannot run', () => {
    expect(() => requestedDevice(['--device', 'tpu'])).toThrow(/--device is auto, cuda, cpu/);
    expect(() => requestedDevice(['--batch', '1'])).toThrow(/Unknown option/);
    expect(() => readBenchOptions(['--dtype', 'int8'], 'cpu')).toThrow(/--dtype is one of/);
    expect(() => readBenchOptions(['--batches', '1,0'], 'cpu')).toThrow(/--batches takes positive/);
    expect(() => readBenchOptions(['--bandwidth-gib', 'x'], 'cpu')).toThrow(/--bandwidth-gib/);
    expect(() => readBenchOptions(['--context', '0'], 'cpu')).toThrow(/--context takes positive/);
  });
});
