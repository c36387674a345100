import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { openCheckpoint } from '../model/loader/open-checkpoint.js';
import type { HostTensor } from '../model/weights/named-tensors.js';
import { Engine } from './engine.js';
import type { LaunchOptions } from './launch-options.js';

/**
 * A second checkpoint of the same shapes as `dir`: every float32 weight has its sign flipped,
 * so it is valid and generates differently. Returns its directory.
 */
export function flippedCheckpoint(dir: string): string {
  const out = mkdtempSync(join(tmpdir(), 'ts-flipped-'));
  copyFileSync(join(dir, 'config.json'), join(out, 'config.json'));
  const bytes = readFileSync(join(dir, 'model.safetensors'));
  const headerLength = Number(bytes.readBigUInt64LE(0));
  for (let at = 8 + headerLength + 3; at < bytes.length; at += 4)
    bytes[at] = (bytes[at] as number) ^ 0x80;
  writeFileSync(join(out, 'model.safetensors'), bytes);
  return out;
}

/** Every tensor of a checkpoint on disk, read into memory as a trainer would push it. */
export async function tensorsOf(dir: string): Promise<HostTensor[]> {
  const checkpoint = await openCheckpoint(dir);
  try {
    return await Promise.all(
      checkpoint.tensors.map(async (t) => {
        const data = new Uint8Array(t.byteLength);
        await t.read(data);
        return { name: t.name, dtype: t.dtype, shape: [...t.shape], data };
      }),
    );
  } finally {
    await checkpoint.close();
  }
}

/** A `launch(options)` over `defaults`; the engines it starts are shut down after each test. */
export function engineLauncher(
  defaults: LaunchOptions,
): (options?: Partial<LaunchOptions>) => Promise<Engine> {
  const engines: Engine[] = [];
  afterEach(async () => {
    await Promise.all(engines.splice(0).map((e) => e.shutdown()));
  });
  return async (options = {}) => {
    const engine = await Engine.launch({ ...defaults, ...options });
    engines.push(engine);
    return engine;
  };
}
