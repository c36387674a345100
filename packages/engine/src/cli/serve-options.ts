import type { LaunchOptions } from '../engine/launch-options.js';
import type { TensorDtype } from '../model/loader/tensor-source.js';

/** `ts-engine serve` flags as commander parses them (kebab-case flags, camelCase keys). */
export interface ServeFlags {
  model: string;
  device: string;
  host: string;
  port: string;
  dpSize: string;
  dtype: string;
  pageSize: string;
  maxRunning: string;
  maxBatchTokens: string;
  maxInputLogprobRows: string;
  contextLength: string;
  kvMemoryFraction: string;
  numPages?: string;
  adminKey?: string;
  prefixCache: boolean;
  freeBackupsOnWake?: boolean;
  disableCudaGraph?: boolean;
}

export interface ServeSettings {
  launch: LaunchOptions;
  host: string;
  port: number;
  adminKey: string | undefined;
}

function integer(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n)) throw new Error(`--${name} must be an integer, got '${value}'`);
  return n;
}

/** Turns flags into launch options; throws a message naming the flag. */
export function serveSettings(flags: ServeFlags): ServeSettings {
  if (!['auto', 'cuda', 'cpu'].includes(flags.device))
    throw new Error(`--device must be auto, cuda or cpu`);
  if (!['float32', 'bfloat16', 'float16'].includes(flags.dtype))
    throw new Error('--dtype must be float32, bfloat16 or float16');
  const port = integer('port', flags.port);
  if (port < 0 || port > 65535) throw new Error('--port must be in 0..65535');
  return {
    host: flags.host,
    port,
    adminKey: flags.adminKey ?? process.env.TS_ENGINE_ADMIN_KEY,
    launch: {
      model: flags.model,
      device: flags.device as LaunchOptions['device'],
      dpSize: integer('dp-size', flags.dpSize),
      dtype: flags.dtype as TensorDtype,
      pageSize: integer('page-size', flags.pageSize),
      maxRunning: integer('max-running', flags.maxRunning),
      maxBatchTokens: integer('max-batch-tokens', flags.maxBatchTokens),
      maxInputLogprobRows: integer('max-input-logprob-rows', flags.maxInputLogprobRows),
      maxContext: integer('context-length', flags.contextLength),
      kvMemoryFraction: Number(flags.kvMemoryFraction),
      ...(flags.numPages ? { numPages: integer('num-pages', flags.numPages) } : {}),
      prefixCache: flags.prefixCache,
      freeBackupsOnWake: flags.freeBackupsOnWake ?? false,
      cudaGraphs: !flags.disableCudaGraph,
    },
  };
}
