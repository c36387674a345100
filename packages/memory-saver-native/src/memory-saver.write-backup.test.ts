import { describe, expect, it } from 'vitest';
import type { Allocation } from './allocation.js';
import type { MemorySaver } from './memory-saver.js';
import { DEVICE, MiB, openSaver, patternBytes, sameBytes } from './memory-saver.test-helpers.js';

async function loaded(s: MemorySaver, size: number, seed: number, deferred = true) {
  const w = await s.allocate(size, { tag: 'weights', cpuBackup: 'tracked' });
  const content = patternBytes(size, seed);
  await s.loadThroughBackup(w, (backup) => backup.set(content));
  s.setDeferredRestore(w, deferred);
  return { w, content };
}

async function read(s: MemorySaver, w: Allocation) {
  const out = new Uint8Array(w.size);
  await s.copyToHost(w, out);
  return out;
}

describe(`writing the backup of released memory on ${DEVICE}`, () => {
  it('while paused: nothing is mapped, the resume restores the new bytes and the next pause copies none', async () => {
    const s = openSaver();
    const size = 9 * MiB + 123;
    const { w } = await loaded(s, size, 1, false);
    await s.pause('weights');
    const fresh = patternBytes(size, 2);
    await s.writeBackup(w, [{ offset: 0, bytes: fresh }]);
    expect(s.stats().weights).toMatchObject({ paused: true, residentBytes: 0 });
    expect(s.residentBytes(w)).toBe(0);
    expect((await s.resume('weights')).copiedBytes).toBe(size);
    expect(sameBytes(await read(s, w), fresh)).toBe(true);
    expect((await s.pause('weights')).copiedBytes).toBe(0);
    await s.resume('weights');
    expect(sameBytes(await read(s, w), fresh)).toBe(true);
  });

  it('with deferred restore: the first read after the resume restores the new bytes', async () => {
    const s = openSaver();
    const { w } = await loaded(s, 5 * MiB, 3);
    await s.pause('weights');
    const fresh = patternBytes(w.size, 4);
    await s.writeBackup(w, [{ offset: 0, bytes: fresh }]);
    expect((await s.resume('weights')).copiedBytes).toBe(0);
    expect(s.restorePending(w)).toBe(true);
    expect(await s.restore(w)).toBe(true);
    expect(sameBytes(await read(s, w), fresh)).toBe(true);
    expect((await s.pause('weights')).copiedBytes).toBe(0);
  });

  it('some pieces only: the rest keeps the old bytes; a pending restore may be written too', async () => {
    const s = openSaver();
    const { w, content } = await loaded(s, 6 * MiB, 5);
    await s.pause('weights');
    const expected = content.slice();
    const a = patternBytes(3 * MiB + 7, 6);
    const b = new Uint8Array([9, 8, 7]);
    expected.set(a, 11);
    expected.set(b, w.size - 3);
    await s.writeBackup(w, [
      { offset: 11, bytes: a },
      { offset: w.size - 3, bytes: b },
    ]);
    await s.resume('weights');
    // Resumed, but the restore is still pending: the backup is still the content.
    const c = patternBytes(MiB, 7);
    expected.set(c, 2 * MiB);
    await s.writeBackup(w, [{ offset: 2 * MiB, bytes: c }]);
    expect(s.restorePending(w)).toBe(true);
    expect(sameBytes(await read(s, w), expected)).toBe(true);
  });

  it('a write that fails lands nothing: the old bytes come back byte for byte', async () => {
    const s = openSaver();
    const { w, content } = await loaded(s, 4 * MiB, 8);
    await s.pause('weights');
    await expect(
      s.writeBackup(w, [
        { offset: 0, bytes: patternBytes(MiB, 9) },
        { offset: w.size - 2, bytes: new Uint8Array(3) },
      ]),
    ).rejects.toThrow(/outside the allocation/);
    await s.resume('weights');
    expect(sameBytes(await read(s, w), content)).toBe(true);
  });

  it('a second cycle is fine, also with backups freed on wake', async () => {
    for (const keepBackups of [true, false]) {
      const s = openSaver(4 * MiB, keepBackups);
      const { w } = await loaded(s, 7 * MiB, 10);
      for (const seed of [11, 12]) {
        await s.pause('weights');
        const fresh = patternBytes(w.size, seed);
        await s.writeBackup(w, [{ offset: 0, bytes: fresh }]);
        await s.resume('weights');
        expect(sameBytes(await read(s, w), fresh)).toBe(true);
        const backupBytes = s.stats().weights?.backupBytes ?? -1;
        expect(keepBackups ? backupBytes >= w.size : backupBytes === 0).toBe(true);
      }
    }
  });

  it('is refused where the content is on the device, or there is no backup', async () => {
    const s = openSaver();
    const { w } = await loaded(s, 3 * MiB, 13);
    const piece = [{ offset: 0, bytes: new Uint8Array(8) }];
    await expect(s.writeBackup(w, piece)).rejects.toThrow(/is on the device; write it there/);
    await s.pause('weights');
    await s.resume('weights');
    await s.restore(w);
    await expect(s.writeBackup(w, piece)).rejects.toThrow(/is on the device/);
    const kv = await s.allocate(MiB, { tag: 'kv_cache' });
    await s.pause('kv_cache');
    await expect(s.writeBackup(kv, piece)).rejects.toThrow(/has no backup/);
  });
});
