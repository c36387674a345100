import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..', '..');
const scratch = mkdtempSync(join(tmpdir(), 'ts-pack-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function run(command: string, args: string[], cwd: string): string {
  return execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

describe('the controllers as users install them', () => {
  it('packs @ts/pause and @ts/memory-occupation, installs the tarballs alone and runs a sleep/wake cycle', () => {
    for (const name of ['pause', 'memory-occupation']) {
      run('pnpm', ['pack', '--pack-destination', scratch], join(root, 'packages', name));
    }
    const tarballs = readdirSync(scratch).filter((f) => f.endsWith('.tgz'));
    expect(tarballs).toHaveLength(2);
    writeFileSync(
      join(scratch, 'package.json'),
      '{"name":"scratch","private":true,"type":"module"}',
    );
    run(
      'npm',
      ['install', '--offline', '--no-audit', '--no-fund', ...tarballs.map((t) => `./${t}`)],
      scratch,
    );
    expect(readdirSync(join(scratch, 'node_modules', '@ts')).sort()).toEqual([
      'memory-occupation',
      'pause',
    ]);

    writeFileSync(
      join(scratch, 'cycle.mjs'),
      `import { PauseController } from '@ts/pause';
import { MemoryOccupationController } from '@ts/memory-occupation';
import { InMemorySaver } from '@ts/memory-occupation/test';
const pause = new PauseController({ runningRequests: () => 0, forwardInFlight: () => false });
const saver = new InMemorySaver({ weights: 16, kv_cache: 16 });
const memory = new MemoryOccupationController(pause.claimMemoryGate(), {
  saver, prefixCache: { reset() {} }, kvPools: { list: () => [] }, tags: ['weights', 'kv_cache'],
});
const release = await memory.release();
const sleeping = memory.isSleeping().isSleeping;
const resume = await memory.resume();
console.log(JSON.stringify({ release: release.success, sleeping, resume: resume.success, forward: pause.mayRunForward() }));
`,
    );
    const out = JSON.parse(run('node', ['cycle.mjs'], scratch));
    expect(out).toEqual({ release: true, sleeping: true, resume: true, forward: true });
  });
});
