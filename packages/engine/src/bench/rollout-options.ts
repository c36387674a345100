import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { cudaDeviceCount, type DeviceKind } from '@ts/memory-saver-native';
import { DTYPE_CHOICES, type DtypeChoice } from '../model/serving-dtype.js';
import type { RolloutShape } from './rollout-workload.js';

/** Everything one run of the rollout bench does; defaults depend on the device. */
export interface RolloutOptions extends RolloutShape {
  device: DeviceKind;
  /** `builtin:tiny` or a checkpoint path (resolved against where pnpm was started). */
  model: string;
  dtype: DtypeChoice;
  /** Passed to the engine when given; its defaults otherwise (the running limit derived). */
  kvMemoryFraction: number | undefined;
  maxRunning: number | undefined;
  maxBatchTokens: number | undefined;
  scheduleConservativeness: number | undefined;
  /** Wait for each pass before planning the next (the engine's overlap schedule off). */
  disableOverlapSchedule: boolean;
  /** The engine's deterministic switch (batch-invariant kernels), to read its cost. */
  deterministic: boolean;
  /** Decode steps the in-process decode reference times. */
  referenceSteps: number;
}

/** CPU defaults finish in seconds on builtin:tiny; CUDA ones are an RL step's rollout. */
const DEFAULTS: Readonly<Record<DeviceKind, Readonly<Record<string, string>>>> = {
  cpu: { model: 'builtin:tiny', prompts: '4', 'max-new-tokens': '512', 'reference-steps': '32' },
  cuda: { prompts: '64', 'max-new-tokens': '4096', 'reference-steps': '64' },
};

function parse(args: readonly string[]) {
  return parseArgs({
    args: [...args],
    options: {
      device: { type: 'string', default: 'auto' },
      model: { type: 'string' },
      dtype: { type: 'string', default: 'auto' },
      prompts: { type: 'string' },
      samples: { type: 'string', default: '8' },
      'min-prompt': { type: 'string', default: '256' },
      'max-prompt': { type: 'string', default: '1024' },
      'max-new-tokens': { type: 'string' },
      'median-new-tokens': { type: 'string' },
      'length-sigma': { type: 'string', default: '1' },
      seed: { type: 'string', default: '0' },
      'kv-memory-fraction': { type: 'string' },
      'max-running': { type: 'string' },
      'max-batch-tokens': { type: 'string' },
      'schedule-conservativeness': { type: 'string' },
      'disable-overlap-schedule': { type: 'boolean', default: false },
      'enable-deterministic-inference': { type: 'boolean', default: false },
      'reference-steps': { type: 'string' },
    },
  }).values;
}

function positiveInt(flag: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0)
    throw new Error(`--${flag} takes a positive integer, got ${text}`);
  return n;
}

function chooseDevice(device: string): DeviceKind {
  if (device === 'cpu' || device === 'cuda') return device;
  if (device !== 'auto') throw new Error(`--device is auto, cpu or cuda; got ${device}`);
  return cudaDeviceCount() > 0 ? 'cuda' : 'cpu';
}

/** The run's options, flags over the device's defaults; throws naming a wrong flag. */
export function readRolloutOptions(args: readonly string[]): RolloutOptions {
  const values = parse(args);
  const device = chooseDevice(values.device);
  const pick = (flag: keyof typeof values): string | undefined =>
    (values[flag] as string | undefined) ?? DEFAULTS[device][flag];
  const model = pick('model');
  if (model === undefined)
    throw new Error('--model PATH is required on cuda (e.g. the 1B-shaped checkpoint of make-1b)');
  if (!(DTYPE_CHOICES as readonly string[]).includes(values.dtype))
    throw new Error(`--dtype is one of ${DTYPE_CHOICES.join(', ')}; got ${values.dtype}`);
  const optionalInt = (flag: keyof typeof values) => {
    const text = values[flag] as string | undefined;
    return text === undefined ? undefined : positiveInt(flag, text);
  };
  const maxNewTokens = positiveInt('max-new-tokens', pick('max-new-tokens') as string);
  const minPrompt = positiveInt('min-prompt', values['min-prompt']);
  const maxPrompt = positiveInt('max-prompt', values['max-prompt']);
  if (maxPrompt < minPrompt) throw new Error('--max-prompt is below --min-prompt');
  const lengthSigma = Number(values['length-sigma']);
  if (!(lengthSigma >= 0)) throw new Error('--length-sigma takes a number >= 0');
  const fraction = values['kv-memory-fraction'];
  const conservativeness = values['schedule-conservativeness'];
  return {
    device,
    model: model === 'builtin:tiny' ? model : resolve(process.env.INIT_CWD ?? process.cwd(), model),
    dtype: values.dtype as DtypeChoice,
    prompts: positiveInt('prompts', pick('prompts') as string),
    samples: positiveInt('samples', values.samples),
    minPrompt,
    maxPrompt,
    maxNewTokens,
    // A sixth of the cap: about 4% of the outputs reach it at sigma 1.
    medianNewTokens: optionalInt('median-new-tokens') ?? Math.max(1, Math.round(maxNewTokens / 6)),
    lengthSigma,
    seed: Number(values.seed) | 0,
    kvMemoryFraction: fraction === undefined ? undefined : Number(fraction),
    maxRunning: optionalInt('max-running'),
    maxBatchTokens: optionalInt('max-batch-tokens'),
    scheduleConservativeness: conservativeness === undefined ? undefined : Number(conservativeness),
    disableOverlapSchedule: values['disable-overlap-schedule'],
    deterministic: values['enable-deterministic-inference'],
    referenceSteps: positiveInt('reference-steps', pick('reference-steps') as string),
  };
}
