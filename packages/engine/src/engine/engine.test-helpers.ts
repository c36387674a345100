import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { openCheckpoint } from '../model/loader/open-checkpoint.js';
import type { HostTensor } from '../model/weights/named-tensors.js';
import type { LaunchOptions } from '../protocol/options.js';
import { Engine } from './engine.js';

/**
 * A copy of checkpoint `dir` in a new temporary folder named after `prefix`: its config as it
 * is, its safetensors file as `edit` changes it (the file's bytes, and its header as parsed).
 * Returns the copy's directory.
 */
export function editedCheckpoint(
  dir: string,
  prefix: string,
  edit: (bytes: Buffer, header: SafetensorsHeader) => Buffer,
): string {
  const out = mkdtempSync(join(tmpdir(), `ts-${prefix}-`));
  copyFileSync(join(dir, 'config.json'), join(out, 'config.json'));
  const bytes = readFileSync(join(dir, 'model.safetensors'));
  const length = Number(bytes.readBigUInt64LE(0));
  const tensors = JSON.parse(bytes.subarray(8, 8 + length).toString('utf8'));
  writeFileSync(join(out, 'model.safetensors'), edit(bytes, { dataStart: 8 + length, tensors }));
  return out;
}

/** A safetensors file's header: where the data starts, and each tensor's entry. */
export interface SafetensorsHeader {
  dataStart: number;
  tensors: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
}

/**
 * A second checkpoint of the same shapes as `dir`: every float32 weight has its sign flipped,
 * so it is valid and generates differently. Returns its directory.
 */
export function flippedCheckpoint(dir: string): string {
  return editedCheckpoint(dir, 'flipped', (bytes, { dataStart }) => {
    for (let at = dataStart + 3; at < bytes.length; at += 4)
      bytes[at] = (bytes[at] as number) ^ 0x80;
    return bytes;
  });
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
