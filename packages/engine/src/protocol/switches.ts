// The engine's on/off options, declared once: the launch option's name and default, the serve
// flag that turns it from its default (with SGLang's name where it has another), its help, and
// the /get_server_info key that reports it. A new switch is a row here, its use where it acts,
// and the key in @ts/client's ServerInfoReply when it is reported.
import type { ServerInfoReply } from '@ts/client';
import { declaredFlags, flagKey, flagNames, type OptionFlag } from './option-flags.js';

/** `flag` turns the switch from its default. */
interface SwitchSpec extends OptionFlag {
  /** The value when the option is left out. */
  default: boolean;
  /** SGLang's server_info key: `disable_*` reports the switch off, any other on. */
  serverInfo?: keyof ServerInfoReply;
}

export const SWITCHES = {
  prefixCache: {
    default: true,
    flag: 'no-prefix-cache',
    help: 'turn the radix prefix cache off',
    serverInfo: 'disable_radix_cache',
  },
  /** Free host backups on wake instead of keeping them (saves host RAM, slower next release). */
  freeBackupsOnWake: {
    default: false,
    flag: 'free-backups-on-wake',
    help: 'free host weight backups on wake (saves host RAM)',
  },
  /** Run decode steps as captured CUDA graphs (no effect on the CPU). */
  cudaGraphs: {
    default: true,
    flag: 'disable-cuda-graph',
    help: 'run decode steps kernel by kernel, without CUDA graphs',
    serverInfo: 'disable_cuda_graph',
  },
  /**
   * Launch each forward pass before the host settles the one before (SGLang's overlap
   * schedule), so scheduling and detokenization run while the device computes.
   */
  overlapSchedule: {
    default: true,
    flag: 'disable-overlap-schedule',
    help: 'wait for each forward pass before planning the next (default: the next is launched first)',
    serverInfo: 'disable_overlap_schedule',
  },
  /**
   * Load weights holding NaN or ±Inf as they are. Off: the initial load fails and an update is
   * refused (the old weights stay), naming the first such tensor and its count.
   */
  allowNonFiniteWeights: {
    default: false,
    flag: 'allow-non-finite-weights',
    help: 'load weights holding NaN/Inf (default: the initial load and weight updates refuse them, naming the tensor)',
  },
  /**
   * Deterministic inference (spec rule 14): a request's tokens and logprobs depend only on the
   * request, not on its batch companions, prefix-cache hits, retraction, sleep/wake or the
   * data-parallel rank. The CPU backend already computes every row independently of the batch,
   * so there it changes nothing (engine.determinism.test.ts is the evidence); on CUDA the GEMMs
   * and attention run batch-invariant (`batchInvariant` of their kernel arguments).
   */
  deterministic: {
    default: false,
    flag: 'deterministic',
    sglangFlag: 'enable-deterministic-inference',
    help: 'the same request gives the same tokens and logprobs whatever else runs (batch-invariant kernels)',
    serverInfo: 'enable_deterministic_inference',
  },
} as const satisfies Record<string, SwitchSpec>;

export type SwitchName = keyof typeof SWITCHES;
export type Switches = Record<SwitchName, boolean>;

const NAMES = Object.keys(SWITCHES) as SwitchName[];

/** Every switch: the value given, else its default; a value that is not a boolean is refused. */
export function resolveSwitches(given: Partial<Record<SwitchName, unknown>>): Switches {
  const resolved = {} as Switches;
  for (const name of NAMES) {
    const value = given[name] ?? SWITCHES[name].default;
    if (typeof value !== 'boolean') throw new RangeError(`${name} must be a boolean`);
    resolved[name] = value;
  }
  return resolved;
}

/** The switches of a wider object (resolved options, say), and nothing else of it. */
export function switchesOf(options: Switches): Switches {
  return Object.fromEntries(NAMES.map((name) => [name, options[name]])) as Switches;
}

/** The switches as `ts-engine serve`'s flags (commander's parse) set them. */
export function switchesFromFlags(flags: Readonly<Record<string, unknown>>): Switches {
  const resolved = {} as Switches;
  for (const name of NAMES) {
    const spec: SwitchSpec = SWITCHES[name];
    const keys = flagNames(spec).map(flagKey);
    // A `--no-x` flag is commander's negatable option: it stores the value itself.
    const flipped = spec.flag.startsWith('no-')
      ? flags[flagKey(spec.flag)] === false
      : keys.some((key) => flags[key] === true);
    resolved[name] = flipped ? !spec.default : spec.default;
  }
  return resolved;
}

/** The flags to declare, in table order: [flag, help]. */
export function switchFlags(): [flag: string, help: string][] {
  return NAMES.flatMap((name) => declaredFlags(SWITCHES[name]));
}

type ReportedSwitch = {
  [K in SwitchName]: (typeof SWITCHES)[K] extends { serverInfo: infer Key } ? Key : never;
}[SwitchName];

/** The server_info keys of the reported switches. */
export function serverInfoSwitches(switches: Switches): Pick<ServerInfoReply, ReportedSwitch> {
  const reported: Record<string, boolean> = {};
  for (const name of NAMES) {
    const key = (SWITCHES[name] as SwitchSpec).serverInfo;
    if (key) reported[key] = key.startsWith('disable_') ? !switches[name] : switches[name];
  }
  return reported as Pick<ServerInfoReply, ReportedSwitch>;
}
