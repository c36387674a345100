import { readFileSync } from 'node:fs';
import { createMemorySaver, type MemorySaver } from './memory-saver.js';
import type { DeviceKind } from './types.js';

/** The backend under test: `cpu` in CI; the device machine runs the suite with TS_DEVICE=cuda. */
export const DEVICE: DeviceKind = process.env.TS_DEVICE === 'cuda' ? 'cuda' : 'cpu';
export const MiB = 1024 * 1024;

export function openSaver(chunkBytes = 4 * MiB, keepBackups = true): MemorySaver {
  return createMemorySaver({ device: DEVICE, chunkBytes, keepBackups });
}

/** Resident set size of this process, from /proc/self/status. */
export function rssBytes(): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  if (!match?.[1]) throw new Error('no VmRSS in /proc/self/status');
  return Number(match[1]) * 1024;
}

/** Deterministic pseudo-random bytes. */
export function patternBytes(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) === 0;
}
