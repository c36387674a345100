import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { vi } from 'vitest';
import { Engine } from '../engine/engine.js';
import type { EngineApi } from '../engine-api.js';
import { BUILTIN_TINY_CONFIG } from '../model/builtin-tiny.js';
import { writeHfModel } from '../model/loader/loader.test-helpers.js';
import { DEVICE } from '../model/runner.test-helpers.js';
import type { LaunchOptions } from '../protocol/options.js';

/** The real engine on `builtin:tiny` (a few hundred ms on the CPU), 64 pages of 16 tokens. */
export function launchTiny(options: Partial<LaunchOptions> = {}): Promise<Engine> {
  return Engine.launch({ model: 'builtin:tiny', device: DEVICE, numPages: 64, ...options });
}

/** A checkpoint directory of `builtin:tiny`'s shapes (other seeded weights), for disk updates. */
export async function tinyCheckpoint(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'ts-tiny-'));
  await writeHfModel(dir, BUILTIN_TINY_CONFIG, { dtype: 'float32' });
  return dir;
}

/**
 * Records `[method, first argument]` for every call of `methods` on `engine`, in order, and
 * still runs the real method; `vi.restoreAllMocks()` puts the methods back.
 */
export function recordCalls<T extends object>(
  engine: T,
  methods: readonly (keyof T & string)[],
): Array<[string, unknown]> {
  const calls: Array<[string, unknown]> = [];
  for (const method of methods) {
    const original = engine[method] as (...args: unknown[]) => unknown;
    vi.spyOn(engine, method as never).mockImplementation(((...args: unknown[]) => {
      calls.push([method, args[0]]);
      return original.apply(engine, args);
    }) as never);
  }
  return calls;
}

/**
 * `engine` whose streams fail (`rank 0 died`) after their first update: a rank dying
 * mid-request cannot be caused on the real engine on the CPU, so this wrapper stands in.
 */
export function dyingAfterFirstUpdate(engine: Engine): EngineApi {
  return Object.create(engine, {
    generateStream: {
      value: async function* (...args: Parameters<Engine['generateStream']>) {
        for await (const chunk of engine.generateStream(...args)) {
          yield chunk;
          throw new Error('rank 0 died');
        }
      },
    },
  });
}
