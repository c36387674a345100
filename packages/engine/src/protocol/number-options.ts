// The engine's numeric options, declared once: the launch option's name, its default (null: each
// rank derives it, or it is off), the serve flag (with SGLang's name where it has another), its
// help, and what values it takes. A new one is a row here and its use where it acts.

import { declaredFlags, flagKey, flagNames, type OptionFlag } from './option-flags.js';

type NumberKind = 'positive integer' | 'integer >= 0' | 'number >= 0' | 'fraction';

interface NumberSpec extends OptionFlag {
  default: number | null;
  /** The flag's value name in --help, as `<n>`. */
  value: string;
  kind: NumberKind;
}

export const NUMBER_OPTIONS = {
  /** Data-parallel ranks, one worker each (`tpSize` workers each under tensor parallelism). */
  dpSize: {
    default: 1,
    flag: 'dp-size',
    value: 'n',
    help: 'data-parallel ranks (one worker each)',
    kind: 'positive integer',
  },
  /**
   * Tensor-parallel ranks per data-parallel rank: each loads its shard of the model (its heads,
   * intermediate columns and vocabulary rows) and its own KV pool, joined by all-reduce and
   * all-gather. The CPU backend only, for now: on CUDA it needs NCCL.
   */
  tpSize: {
    default: 1,
    flag: 'tp-size',
    value: 'n',
    help: 'tensor-parallel ranks per data-parallel rank (CPU only for now)',
    kind: 'positive integer',
  },
  pageSize: {
    default: 16,
    flag: 'page-size',
    value: 'tokens',
    help: 'tokens per KV page',
    kind: 'positive integer',
  },
  /**
   * Most requests a rank runs at once. Null: each rank derives it from its KV pool
   * (`derivedMaxRunning`: the sequences the pool holds at half the context each, at most 256).
   */
  maxRunning: {
    default: null,
    flag: 'max-running',
    sglangFlag: 'max-running-requests',
    value: 'n',
    help: "most requests in a rank's running batch (default: as many as its KV cache holds at half the context each, at most 256)",
    kind: 'positive integer',
  },
  /**
   * Most tokens one forward pass computes, prefill chunks and decodes together: a long prompt is
   * prefilled in chunks, so a pass that carries one stays short for the sequences decoding beside it.
   */
  maxBatchTokens: {
    default: 2048,
    flag: 'max-batch-tokens',
    value: 'n',
    help: 'most tokens in one forward pass, prefill chunks and decodes together',
    kind: 'positive integer',
  },
  /**
   * Extra logits rows one forward pass may compute for input-token logprobs (0 turns them off).
   * Each row costs vocab x (dtype + 4) bytes of workspace.
   */
  maxInputLogprobRows: {
    default: 128,
    flag: 'max-input-logprob-rows',
    value: 'n',
    help: 'extra logits rows per pass for input-token logprobs (0: off)',
    kind: 'integer >= 0',
  },
  /**
   * How much KV admission keeps for the growth of the running requests (SGLang's
   * `--schedule-conservativeness`): above 1 admits fewer and retracts less, 0 keeps nothing
   * (admit while prompts fit, retract when KV runs out).
   */
  scheduleConservativeness: {
    default: 1,
    flag: 'schedule-conservativeness',
    value: 'x',
    help: "KV kept for the running requests' growth (SGLang's; 0: none, retract instead)",
    kind: 'number >= 0',
  },
  /** Longest sequence (prompt + output) a request may reach. */
  maxContext: {
    default: 2048,
    flag: 'context-length',
    value: 'n',
    help: 'longest prompt + output',
    kind: 'positive integer',
  },
  /** Fraction of the device memory left after the weights that the KV cache takes. */
  kvMemoryFraction: {
    default: 0.3,
    flag: 'kv-memory-fraction',
    value: 'f',
    help: 'share of free device memory for the KV cache',
    kind: 'fraction',
  },
  /** KV pages per rank; overrides kvMemoryFraction. Null: sized by kvMemoryFraction. */
  numPages: {
    default: null,
    flag: 'num-pages',
    value: 'n',
    help: 'KV pages per rank (overrides --kv-memory-fraction)',
    kind: 'positive integer',
  },
} as const satisfies Record<string, NumberSpec>;

export type NumberOptionName = keyof typeof NUMBER_OPTIONS;
/** The options whose default is null (derived by each rank, or off). */
type NullableName = {
  [K in NumberOptionName]: (typeof NUMBER_OPTIONS)[K]['default'] extends null ? K : never;
}[NumberOptionName];
export type NumberOptions = {
  [K in NumberOptionName]: K extends NullableName ? number | null : number;
};

const NAMES = Object.keys(NUMBER_OPTIONS) as NumberOptionName[];

/** What a refusal says a value must be. */
const mustBe: Record<NumberKind, string> = {
  'positive integer': 'a positive integer',
  'integer >= 0': 'an integer >= 0',
  'number >= 0': 'a number >= 0',
  fraction: 'in (0, 1)',
};

const fits: Record<NumberKind, (n: number) => boolean> = {
  'positive integer': (n) => Number.isInteger(n) && n >= 1,
  'integer >= 0': (n) => Number.isInteger(n) && n >= 0,
  'number >= 0': (n) => Number.isFinite(n) && n >= 0,
  fraction: (n) => n > 0 && n < 1,
};

/** Every numeric option: the value given, else its default; one that does not fit its kind is refused. */
export function resolveNumberOptions(
  given: Partial<Record<NumberOptionName, unknown>>,
): NumberOptions {
  const resolved = {} as Record<NumberOptionName, number | null>;
  for (const name of NAMES) {
    const spec: NumberSpec = NUMBER_OPTIONS[name];
    const value = given[name] ?? spec.default;
    if (value !== null && !(typeof value === 'number' && fits[spec.kind](value)))
      throw new RangeError(`${name} must be ${mustBe[spec.kind]}`);
    resolved[name] = value;
  }
  return resolved as NumberOptions;
}

/** The numeric options `ts-engine serve`'s flags give (commander's strings), read as numbers; a flag left out is left out. */
export function numberOptionsFromFlags(
  flags: Readonly<Record<string, unknown>>,
): Partial<Record<NumberOptionName, number>> {
  const given: Partial<Record<NumberOptionName, number>> = {};
  for (const name of NAMES) {
    const spec: NumberSpec = NUMBER_OPTIONS[name];
    const values = flagNames(spec).flatMap((flag) => {
      const text = flags[flagKey(flag)];
      return text === undefined ? [] : [readFlag(flag, String(text), spec.kind)];
    });
    if (new Set(values).size > 1)
      throw new Error(`--${spec.flag} and --${spec.sglangFlag} name one option: give one of them`);
    if (values.length > 0) given[name] = values[0] as number;
  }
  return given;
}

/** A flag's text as a number; the kind's range is checked at launch, only the form here. */
function readFlag(flag: string, text: string, kind: NumberKind): number {
  const n = Number(text);
  if (kind === 'number >= 0' && !fits[kind](n))
    throw new Error(`--${flag} must be a number >= 0, got '${text}'`);
  if ((kind === 'positive integer' || kind === 'integer >= 0') && !Number.isInteger(n))
    throw new Error(`--${flag} must be an integer, got '${text}'`);
  return n;
}

/** The flags to declare, in table order: [flag with its value, help, commander's default]. */
export function numberFlags(): [flag: string, help: string, fallback?: string][] {
  return NAMES.flatMap((name) => {
    const spec: NumberSpec = NUMBER_OPTIONS[name];
    const [ours, ...aliases] = declaredFlags(spec, spec.value);
    const fallback = spec.default === null ? [] : [String(spec.default)];
    return [[...(ours as [string, string]), ...fallback] as [string, string, string?], ...aliases];
  });
}
