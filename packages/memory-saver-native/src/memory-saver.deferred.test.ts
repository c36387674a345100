import { describe, expect, it } from 'vitest';
import type { MemorySaver } from './memory-saver.js';
import { DEVICE, MiB, openSaver, patternBytes, sameBytes } from './memory-saver.test-helpers.js';
import { failMapAfter } from './testing.js';

async function loaded(s: MemorySaver, size: number, seed: number) {
  const w = await s.allocate(size, { tag: 'weights', cpuBackup: 'tracked' });
  const content = patternBytes(size, seed);
  await s.loadThroughBackup(w, (backup) => backup.set(content));
  s.setDeferredRestore(w, true);
  return { w, content };
}

async function read(s: MemorySaver, w: Parameters<MemorySaver['free']>[0]) {
  const out = new Uint8Array(w.size);
  await s.copyToHost(w, out);
  return out;
}

describe(`deferred restore on ${DEVICE}`, () => {
  it('a resume maps without copying; the first read restores the content byte for byte', async () => {
    const s = openSaver();
    const size = 9 * MiB + 123;
    const { w, content } = await loaded(s, size, 1);
    await s.pause('weights');
    const report = await s.resume('weights');
    expect(report.copiedBytes).toBe(0);
    expect(s.restorePending(w)).toBe(true);
    expect(sameBytes(await read(s, w), content)).toBe(true);
    expect(s.restorePending(w)).toBe(false);
    expect(await s.restore(w)).toBe(false);
  });

  it('restore copies once; a pause while pending copies nothing and the next resume still has it all', async () => {
    const s = openSaver();
    const { w, content } = await loaded(s, 5 * MiB, 2);
    await s.pause('weights');
    await s.resume('weights');
    expect((await s.pause('weights')).copiedBytes).toBe(0);
    await s.resume('weights');
    expect(await s.restore(w)).toBe(true);
    expect(await s.restore(w)).toBe(false);
    expect(sameBytes(await read(s, w), content)).toBe(true);
    expect((await s.pause('weights')).copiedBytes).toBe(0);
  });

  it('with backups freed on wake, a pending restore keeps its backup until it has copied it', async () => {
    const s = openSaver(4 * MiB, false);
    const { w, content } = await loaded(s, 5 * MiB, 8);
    await s.pause('weights');
    await s.resume('weights');
    expect(s.stats().weights?.backupBytes).toBeGreaterThan(0);
    expect(await s.restore(w)).toBe(true);
    expect(s.stats().weights?.backupBytes).toBe(0);
    expect(sameBytes(await read(s, w), content)).toBe(true);
    await s.pause('weights');
    await s.resume('weights');
    const fresh = patternBytes(w.size, 9);
    await s.copyFromHost(w, fresh);
    expect(s.stats().weights?.backupBytes).toBe(0);
    expect((await s.pause('weights')).copiedBytes).toBe(w.size);
    await s.resume('weights');
    expect(sameBytes(await read(s, w), fresh)).toBe(true);
  });

  it('rule 13: a deferred resume that fails part-way stays paused with its backup; a retry still restores it', async () => {
    const s = openSaver(MiB);
    const { w, content } = await loaded(s, 3 * MiB, 10);
    await s.pause('weights');
    failMapAfter(s, 1);
    await expect(s.resume('weights')).rejects.toThrow(/stays paused with its backup/);
    expect(s.stats().weights).toMatchObject({ paused: true, residentBytes: 0 });
    expect(s.stats().weights?.backupBytes).toBeGreaterThan(0);
    await s.resume('weights');
    expect(s.restorePending(w)).toBe(true);
    expect(sameBytes(await read(s, w), content)).toBe(true);
  });

  it('partial writes and backups restore first; misuse is refused clearly', async () => {
    const s = openSaver();
    const { w, content } = await loaded(s, 3 * MiB, 7);
    await s.pause('weights');
    await s.resume('weights');
    await s.copyFromHost(w, new Uint8Array([1, 2, 3]), 8);
    const expected = content.slice();
    expected.set([1, 2, 3], 8);
    expect(sameBytes(await read(s, w), expected)).toBe(true);
    const untracked = await s.allocate(MiB, { tag: 'kv_cache' });
    expect(() => s.setDeferredRestore(untracked, true)).toThrow(/no backup/);
  });
});

describe(`zero on resume on ${DEVICE}`, () => {
  it('a resume hands the memory back all zero, and only memory without a backup may ask', async () => {
    const s = openSaver();
    const kv = await s.allocate(10 * MiB + 7, { tag: 'kv_cache' });
    const zeros = await s.allocate(kv.size);
    await s.zero(zeros);
    s.setZeroOnResume(kv, true);
    await s.fill(kv, 0xab);
    await s.pause('kv_cache');
    await s.resume('kv_cache');
    expect(await s.checksum(kv)).toBe(await s.checksum(zeros));
    const backed = await s.allocate(MiB, { tag: 'weights', cpuBackup: true });
    expect(() => s.setZeroOnResume(backed, true)).toThrow(/restored from its backup/);
  });
});
