// The serve command's own flags, declared once: the model, device and dtype the engine launches
// with, and the server's address, keys and limits. Each row is commander's key, the flag, its
// value's name, help, default and, for a choice, the values it takes. The switches and numeric
// options have their tables in protocol/ (switches.ts, number-options.ts).
import { DTYPE_CHOICES } from '../model/serving-dtype.js';
import { DEVICE_CHOICES } from '../protocol/options.js';

interface ServeFlagSpec {
  /** The flag, without its dashes. */
  flag: string;
  /** The flag's value name in --help, as `<path>`. */
  value: string;
  help: string;
  default?: string;
  choices?: readonly string[];
}

export const SERVE_FLAGS = {
  model: {
    flag: 'model',
    value: 'path',
    help: 'Hugging Face model directory, llama2.c .bin, or builtin:tiny',
    default: 'builtin:tiny',
  },
  device: {
    flag: 'device',
    value: 'device',
    help: 'where the model runs',
    default: 'auto',
    choices: DEVICE_CHOICES,
  },
  dtype: {
    flag: 'dtype',
    value: 'dtype',
    help: "the compute dtype (auto: the checkpoint's; float32 runs as bfloat16 on a GPU, float32 on the CPU)",
    default: 'auto',
    choices: DTYPE_CHOICES,
  },
  host: { flag: 'host', value: 'host', help: 'address to bind', default: '127.0.0.1' },
  port: { flag: 'port', value: 'port', help: 'port to listen on (0..65535)', default: '30000' },
  adminKey: {
    flag: 'admin-key',
    value: 'key',
    help: 'bearer key for the control endpoints (or TS_ENGINE_ADMIN_KEY)',
  },
  corsAllowOrigins: {
    flag: 'cors-allow-origins',
    value: 'origins',
    help: 'comma-separated origins browser pages may call from (default: none; * for any)',
  },
  checkpointDir: {
    flag: 'checkpoint-dir',
    value: 'dir',
    help: 'update_weights_from_disk reads checkpoints only under this directory',
  },
  shutdownTimeout: {
    flag: 'shutdown-timeout',
    value: 'seconds',
    help: 'on SIGTERM/SIGINT, how long running requests may finish',
    default: '10',
  },
} as const satisfies Record<string, ServeFlagSpec>;

export type ServeFlagName = keyof typeof SERVE_FLAGS;
type Defaulted = {
  [K in ServeFlagName]: (typeof SERVE_FLAGS)[K] extends { default: string } ? K : never;
}[ServeFlagName];

type ChoiceFlag = {
  [K in ServeFlagName]: (typeof SERVE_FLAGS)[K] extends { choices: readonly string[] } ? K : never;
}[ServeFlagName];

/** The flags' values as commander gives them: strings, present where the flag has a default. */
export type ServeFlagValues = { [K in Defaulted]: string } & {
  [K in Exclude<ServeFlagName, Defaulted>]?: string;
};

/** commander's option declarations for the table: [flag with its value, help, default]. */
export function serveFlags(): [flag: string, help: string, fallback?: string][] {
  return Object.values(SERVE_FLAGS).map((spec: ServeFlagSpec) => {
    const help = spec.choices ? `${spec.help}: ${spec.choices.join(', ')}` : spec.help;
    const declared: [string, string] = [`--${spec.flag} <${spec.value}>`, help];
    return spec.default === undefined ? declared : [...declared, spec.default];
  });
}

/** A choice flag's value as its type, or an error naming the flag and what it takes. */
export function chosen<K extends ChoiceFlag>(
  name: K,
  value: string,
): (typeof SERVE_FLAGS)[K]['choices'][number] {
  const spec: ServeFlagSpec = SERVE_FLAGS[name];
  const choices = spec.choices ?? [];
  if (!choices.includes(value))
    throw new Error(`--${spec.flag} must be one of ${choices.join(', ')}, got '${value}'`);
  return value as (typeof SERVE_FLAGS)[K]['choices'][number];
}
