import { numberOptionsFromFlags } from '../protocol/number-options.js';
import type { LaunchOptions } from '../protocol/options.js';
import { switchesFromFlags } from '../protocol/switches.js';
import type { ServerOptions } from '../server/create-server.js';
import { LOOPBACK_HOSTS } from '../server/http-guards.js';
import { chosen, type ServeFlagValues } from './serve-flags.js';

/**
 * `ts-engine serve` flags as commander parses them (kebab-case flags, camelCase keys): the
 * command's own (serve-flags.ts), then the switches (switches.ts) and numeric options
 * (number-options.ts) under their own keys.
 */
export type ServeFlags = Readonly<ServeFlagValues> & Readonly<Record<string, unknown>>;

export interface ServeSettings {
  launch: LaunchOptions;
  host: string;
  port: number;
  server: Omit<ServerOptions, 'modelName'>;
  shutdownTimeoutMs: number;
  /** Set-up choices worth a loud line in the log. */
  warnings: string[];
}

function integer(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n)) throw new Error(`--${name} must be an integer, got '${value}'`);
  return n;
}

/** Turns flags into launch options; throws a message naming the flag. */
export function serveSettings(
  flags: ServeFlags,
  env: Readonly<Record<string, string | undefined>> = process.env,
): ServeSettings {
  const device = chosen('device', flags.device);
  const dtype = chosen('dtype', flags.dtype);
  const port = integer('port', flags.port);
  if (port < 0 || port > 65535) throw new Error('--port must be in 0..65535');
  const shutdownTimeout = Number(flags.shutdownTimeout);
  if (!(shutdownTimeout >= 0))
    throw new Error('--shutdown-timeout must be a number of seconds >= 0');
  const adminKey = readAdminKey(flags.adminKey, env);
  const loopback = isLoopback(flags.host);
  return {
    host: flags.host,
    port,
    server: {
      ...(adminKey ? { adminKey } : {}),
      ...(flags.corsAllowOrigins ? { corsOrigins: listOf(flags.corsAllowOrigins) } : {}),
      ...(flags.checkpointDir ? { checkpointDir: flags.checkpointDir } : {}),
      allowedHosts: loopback && !adminKey ? LOOPBACK_HOSTS : null,
    },
    shutdownTimeoutMs: shutdownTimeout * 1000,
    warnings:
      loopback || adminKey
        ? []
        : [
            `serving on ${flags.host} with no admin key: anyone who can reach this address can ` +
              'release memory, pause, abort requests and replace the weights. Set --admin-key ' +
              '(or TS_ENGINE_ADMIN_KEY), or bind to 127.0.0.1.',
          ],
    launch: {
      model: flags.model,
      device,
      dtype,
      ...numberOptionsFromFlags(flags),
      ...switchesFromFlags(flags),
    },
  };
}

/** The key from the flag, else the environment; an empty one is refused, never "no auth". */
function readAdminKey(
  flag: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
): string | undefined {
  const [key, source] =
    flag !== undefined ? [flag, '--admin-key'] : [env.TS_ENGINE_ADMIN_KEY, 'TS_ENGINE_ADMIN_KEY'];
  if (key !== undefined && key.trim() === '')
    throw new Error(`${source} is empty: give a key, or leave it unset to serve without one`);
  return key;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127(?:\.\d{1,3}){3}$/.test(host);
}

function listOf(value: string): string[] {
  return value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}
