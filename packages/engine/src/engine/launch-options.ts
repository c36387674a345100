import { DTYPE_CHOICES } from '../model/serving-dtype.js';
import { resolveNumberOptions } from '../protocol/number-options.js';
import {
  DEVICE_CHOICES,
  type DeviceChoice,
  type LaunchOptions,
  type ResolvedOptions,
} from '../protocol/options.js';
import { resolveSwitches } from '../protocol/switches.js';

/**
 * Fills defaults and rejects impossible settings with a message naming the option. `gpuCount`
 * is how many GPUs the machine has (0 on a CPU-only one).
 */
export function resolveOptions(options: LaunchOptions, gpuCount: number): ResolvedOptions {
  const numbers = resolveNumberOptions(options);
  const dpSize = numbers.dpSize;
  const resolved: ResolvedOptions = {
    model: options.model,
    device: options.device ?? 'auto',
    gpuIds: options.gpuIds ?? Array.from({ length: dpSize }, (_, r) => r % Math.max(gpuCount, 1)),
    dtype: options.dtype ?? 'auto',
    ...numbers,
    ...resolveSwitches(options),
    testFaults: options.testFaults ?? {},
  };
  if (!DTYPE_CHOICES.includes(resolved.dtype))
    throw new RangeError(`dtype must be one of ${DTYPE_CHOICES.join(', ')}`);
  if (!(DEVICE_CHOICES as readonly string[]).includes(resolved.device))
    throw new RangeError(`device must be one of ${DEVICE_CHOICES.join(', ')}`);
  if (resolved.gpuIds.length !== dpSize)
    throw new RangeError(`gpuIds must name one GPU per rank (${dpSize})`);
  if (typeof resolved.model !== 'string' || resolved.model === '')
    throw new RangeError('model must be a path or builtin:tiny');
  if (resolved.tpSize > 1 && runsOnCuda(resolved.device, gpuCount))
    throw new RangeError(TENSOR_PARALLEL_ON_CUDA);
  return resolved;
}

/** Why `tpSize` > 1 is refused on CUDA: its collectives go through NCCL, which this build lacks. */
export const TENSOR_PARALLEL_ON_CUDA =
  '--tp-size > 1 is not available on CUDA in this build: tensor parallelism across GPUs needs ' +
  'NCCL, which comes with the multi-GPU build (issue 19). Use --device cpu (ranks as threads ' +
  'with a shared-memory all-reduce), or --tp-size 1.';

/**
 * Whether the ranks will run on a GPU: `cuda`, or `auto` on a machine with one (the rank's
 * memory saver opens CUDA whenever a GPU is there, the CPU otherwise).
 */
function runsOnCuda(device: DeviceChoice, gpuCount: number): boolean {
  return device === 'cuda' || (device === 'auto' && gpuCount > 0);
}
