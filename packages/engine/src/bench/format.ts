import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';

export const median = (xs: readonly number[]): number =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

/** 3 significant digits at most, no trailing zeros: 100.1, 35.2, 1240. */
export function formatCount(x: number): string {
  if (!Number.isFinite(x)) return '-';
  return x >= 100 ? x.toFixed(1).replace(/\.0$/, '') : String(Number(x.toPrecision(3)));
}

/** A rate: one decimal below 1000, whole numbers above. */
export const formatRate = (x: number): string =>
  !Number.isFinite(x) ? '-' : x >= 1000 ? x.toFixed(0) : x.toFixed(1);

/** The CPU's model name from /proc/cpuinfo (Linux), else what Node reports. */
export function cpuModelName(): string {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('model name'));
    const name = line?.split(':')[1]?.trim();
    if (name) return name;
  } catch {
    // Not Linux: fall through.
  }
  return cpus()[0]?.model ?? 'unknown CPU';
}
