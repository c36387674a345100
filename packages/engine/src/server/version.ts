import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

let version: string | null = null;

/** `@ts/engine`'s version, from the nearest package.json of that name above this file. */
export function engineVersion(): string {
  if (version !== null) return version;
  version = 'unknown';
  for (let dir = import.meta.dirname; dir !== dirname(dir); dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (!existsSync(file)) continue;
    const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
    if (pkg.name === '@ts/engine') {
      version = pkg.version ?? 'unknown';
      break;
    }
  }
  return version;
}
