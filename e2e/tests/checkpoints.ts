import {
  closeSync,
  copyFileSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
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

/** The checkpoint with every bfloat16 weight's sign flipped: same shapes, other outputs. */
export function flippedBf16(dir: string): string {
  const out = mkdtempSync(join(tmpdir(), 'ts-1b-flipped-'));
  for (const name of readdirSync(dir)) {
    if (!name.endsWith('.safetensors')) copyFileSync(join(dir, name), join(out, name));
    else flipFile(join(dir, name), join(out, name));
  }
  return out;
}

/** Copies a safetensors file in chunks (it can pass 2 GiB), flipping each bf16 sign bit. */
function flipFile(from: string, to: string): void {
  const input = openSync(from, 'r');
  const output = openSync(to, 'w');
  try {
    const head = Buffer.alloc(8);
    readSync(input, head, 0, 8, 0);
    const dataStart = 8 + Number(head.readBigUInt64LE(0));
    const chunk = Buffer.alloc(64 * 1024 * 1024);
    for (let at = 0; ; ) {
      const n = readSync(input, chunk, 0, chunk.length, at);
      if (n === 0) break;
      // Data starts at an even offset here, so a chunk's odd bytes are bf16 high bytes.
      for (let i = Math.max(0, dataStart - at) | 1; i < n; i += 2)
        chunk[i] = (chunk[i] as number) ^ 0x80;
      writeSync(output, chunk, 0, n, at);
      at += n;
    }
  } finally {
    closeSync(input);
    closeSync(output);
  }
}
