import { describe, expect, it } from 'vitest';
import { resolveOptions, TENSOR_PARALLEL_ON_CUDA } from './launch-options.js';

describe('resolveOptions', () => {
  it('spreads ranks over the GPUs there are, several to a GPU when fewer', () => {
    expect(resolveOptions({ model: 'builtin:tiny', dpSize: 4 }, 2).gpuIds).toEqual([0, 1, 0, 1]);
    expect(resolveOptions({ model: 'builtin:tiny', dpSize: 2 }, 1).gpuIds).toEqual([0, 0]);
    expect(resolveOptions({ model: 'builtin:tiny', dpSize: 2 }, 0).gpuIds).toEqual([0, 0]);
    expect(resolveOptions({ model: 'builtin:tiny', dpSize: 2 }, 8).gpuIds).toEqual([0, 1]);
  });

  it('leaves the running-batch limit to each rank unless one is given', () => {
    expect(resolveOptions({ model: 'builtin:tiny' }, 1).maxRunning).toBeNull();
    expect(resolveOptions({ model: 'builtin:tiny', maxRunning: 300 }, 1).maxRunning).toBe(300);
    expect(() => resolveOptions({ model: 'builtin:tiny', maxRunning: 0 }, 1)).toThrow(
      'maxRunning must be a positive integer',
    );
  });

  it('refuses non-finite weights unless allowNonFiniteWeights', () => {
    expect(resolveOptions({ model: 'builtin:tiny' }, 1).allowNonFiniteWeights).toBe(false);
    const allowed = resolveOptions({ model: 'builtin:tiny', allowNonFiniteWeights: true }, 1);
    expect(allowed.allowNonFiniteWeights).toBe(true);
  });

  it('takes deterministic on either device (issue 17: batch-invariant kernels on CUDA)', () => {
    const tiny = { model: 'builtin:tiny' };
    expect(resolveOptions(tiny, 1).deterministic).toBe(false);
    for (const [device, gpus] of [
      ['cpu', 0],
      ['auto', 0],
      ['cuda', 1],
      ['auto', 8],
    ] as const) {
      expect(resolveOptions({ ...tiny, device, deterministic: true }, gpus).deterministic).toBe(
        true,
      );
    }
    // Off, CUDA is as before.
    expect(resolveOptions({ ...tiny, device: 'cuda', deterministic: false }, 1).device).toBe(
      'cuda',
    );
    expect(() =>
      resolveOptions({ ...tiny, deterministic: 'yes' as unknown as boolean }, 0),
    ).toThrow('deterministic must be a boolean');
    expect(() => resolveOptions({ ...tiny, overlapSchedule: 1 as unknown as boolean }, 0)).toThrow(
      'overlapSchedule must be a boolean',
    );
    expect(resolveOptions(tiny, 0).overlapSchedule).toBe(true);
  });

  it('names the option that is wrong', () => {
    expect(() => resolveOptions({ model: 'builtin:tiny', dpSize: 2, gpuIds: [0] }, 2)).toThrow(
      'gpuIds must name one GPU per rank (2)',
    );
    expect(() => resolveOptions({ model: 'builtin:tiny', dpSize: 0 }, 1)).toThrow(
      'dpSize must be a positive integer',
    );
    expect(() => resolveOptions({ model: 'builtin:tiny', kvMemoryFraction: 1 }, 1)).toThrow(
      'kvMemoryFraction must be in (0, 1)',
    );
    expect(() =>
      resolveOptions({ model: 'builtin:tiny', scheduleConservativeness: -0.5 }, 1),
    ).toThrow('scheduleConservativeness must be a number >= 0');
    expect(resolveOptions({ model: 'builtin:tiny' }, 1).scheduleConservativeness).toBe(1);
  });

  it('takes a tp size on the CPU, refuses one that is not a positive integer, and any above 1 on CUDA', () => {
    const tiny = { model: 'builtin:tiny' };
    expect(resolveOptions(tiny, 0).tpSize).toBe(1);
    expect(resolveOptions({ ...tiny, device: 'cpu', tpSize: 4 }, 1).tpSize).toBe(4);
    for (const tpSize of [0, -2, 1.5, Number.NaN])
      expect(() => resolveOptions({ ...tiny, tpSize }, 0)).toThrow(
        'tpSize must be a positive integer',
      );
    expect(resolveOptions({ ...tiny, device: 'cuda', tpSize: 1 }, 1).tpSize).toBe(1);
    for (const [device, gpus] of [
      ['cuda', 1],
      ['auto', 2],
    ] as const)
      expect(() => resolveOptions({ ...tiny, device, tpSize: 2 }, gpus)).toThrow(
        TENSOR_PARALLEL_ON_CUDA,
      );
    expect(TENSOR_PARALLEL_ON_CUDA).toMatch(/NCCL.*multi-GPU build/);
  });
});
