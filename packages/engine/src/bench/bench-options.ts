import { parseArgs } from 'node:util';
import type { DeviceKind } from '@ts/memory-saver-native';
import type { TensorDtype } from '../model/loader/tensor-source.js';
import { DTYPE_CHOICES } from '../model/serving-dtype.js';
import { NUMBER_OPTIONS } from '../protocol/number-options.js';
import { DEVICE_CHOICES } from '../protocol/options.js';

const GiB = 1024 ** 3;
const DTYPES: readonly string[] = DTYPE_CHOICES.filter((dtype) => dtype !== 'auto');
const DEVICES: readonly string[] = DEVICE_CHOICES;

/** Everything one run of the decode bench does; defaults depend on the device. */
export interface DecodeBenchOptions {
  model: string;
  dtype: TensorDtype;
  batches: number[];
  promptTokens: number;
  newTokens: number;
  /**
   * Decode over a context of this mean length without a prefill: the steps attend over
   * `context - newTokens / 2` and more keys of the (zeroed) pool, as the PyTorch probe's CTX.
   * Null: prefill the prompts, then decode after them.
   */
  context: number | null;
  /** Also time decode steps as single launches beside the captured graphs. */
  launches: boolean;
  /** Also time every mode with batch-invariant kernels (the deterministic switch's), row beside row. */
  deterministic: boolean;
  reps: number;
  bandwidthBytes: number;
  pageSize: number;
  seed: number;
}

/** Defaults: CPU runs fit a few minutes on two cores; CUDA runs are the 1B comparison. */
const DEFAULTS: Readonly<Record<DeviceKind, Readonly<Record<string, string>>>> = {
  cpu: {
    model: 'random:100m',
    dtype: 'float32',
    batches: '1,8',
    'new-tokens': '32',
    'bandwidth-gib': '1',
  },
  // 8 GiB: a checksum call's fixed cost (about 0.1 ms) read 1 GiB at 2.35 TB/s of the H200's 4.05.
  cuda: {
    model: 'random:1b',
    dtype: 'bfloat16',
    batches: '1,8,64',
    'new-tokens': '128',
    'bandwidth-gib': '8',
  },
};

function parse(args: readonly string[]) {
  return parseArgs({
    args: [...args],
    options: {
      device: { type: 'string', default: 'auto' },
      model: { type: 'string' },
      dtype: { type: 'string' },
      batches: { type: 'string' },
      prompt: { type: 'string', default: '128' },
      'new-tokens': { type: 'string' },
      context: { type: 'string' },
      'graphs-only': { type: 'boolean', default: false },
      deterministic: { type: 'boolean', default: false },
      reps: { type: 'string', default: '5' },
      'bandwidth-gib': { type: 'string' },
      'page-size': { type: 'string', default: String(NUMBER_OPTIONS.pageSize.default) },
      seed: { type: 'string', default: '0' },
    },
  }).values;
}

function positiveInts(flag: string, text: string): number[] {
  const numbers = text.split(',').map(Number);
  if (numbers.some((n) => !Number.isInteger(n) || n <= 0))
    throw new Error(`--${flag} takes positive integers, got ${text}`);
  return numbers;
}

const positiveInt = (flag: string, text: string): number => positiveInts(flag, text)[0] as number;

/** The device asked for; throws on unknown flags or devices. */
export function requestedDevice(args: readonly string[]): DeviceKind | 'auto' {
  const { device } = parse(args);
  if (!DEVICES.includes(device))
    throw new Error(`--device is ${DEVICES.join(', ')}; got ${device}`);
  return device as DeviceKind | 'auto';
}

/** The run's options on `device` (the one the saver opened), flags over that device's defaults. */
export function readBenchOptions(args: readonly string[], device: DeviceKind): DecodeBenchOptions {
  const values = parse(args);
  const defaults = DEFAULTS[device];
  const pick = (flag: string): string =>
    (values[flag as keyof typeof values] as string | undefined) ?? (defaults[flag] as string);
  const dtype = pick('dtype');
  if (!DTYPES.includes(dtype))
    throw new Error(`--dtype is one of ${DTYPES.join(', ')}; got ${dtype}`);
  const bandwidthGiB = Number(pick('bandwidth-gib'));
  if (!(bandwidthGiB > 0))
    throw new Error(`--bandwidth-gib takes a positive number, got ${pick('bandwidth-gib')}`);
  return {
    model: pick('model'),
    dtype: dtype as TensorDtype,
    batches: positiveInts('batches', pick('batches')),
    promptTokens: positiveInt('prompt', values.prompt),
    newTokens: positiveInt('new-tokens', pick('new-tokens')),
    context: values.context === undefined ? null : positiveInt('context', values.context),
    launches: !values['graphs-only'],
    deterministic: values.deterministic,
    reps: positiveInt('reps', values.reps),
    bandwidthBytes: Math.round(bandwidthGiB * GiB),
    pageSize: positiveInt('page-size', values['page-size']),
    seed: Number(values.seed) | 0,
  };
}
