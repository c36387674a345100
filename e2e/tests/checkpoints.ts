import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** The llama fixture: a tiny Hugging Face Llama checkpoint with a byte tokenizer's vocabulary. */
export const LLAMA = resolve(import.meta.dirname, '../fixtures/models/llama');

/** The llama fixture with every weight's sign flipped: same shapes, other outputs. */
export function secondCheckpoint(): string {
  const out = mkdtempSync(join(tmpdir(), 'ts-second-'));
  copyFileSync(join(LLAMA, 'config.json'), join(out, 'config.json'));
  const bytes = readFileSync(join(LLAMA, 'model.safetensors'));
  const header = Number(bytes.readBigUInt64LE(0));
  for (let at = 8 + header + 3; at < bytes.length; at += 4)
    bytes[at] = (bytes[at] as number) ^ 0x80;
  writeFileSync(join(out, 'model.safetensors'), bytes);
  return out;
}
