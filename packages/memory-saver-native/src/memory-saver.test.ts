import { afterEach, describe, expect, it } from 'vitest';
import type { MemorySaver } from './memory-saver.js';
import {
  DEVICE,
  MiB,
  openSaver,
  patternBytes,
  rssBytes,
  sameBytes,
} from './memory-saver.test-helpers.js';
import { failMapAfter } from './testing.js';

let saver: MemorySaver | undefined;
const open = (...args: Parameters<typeof openSaver>) => {
  saver = openSaver(...args);
  return saver;
};
afterEach(async () => {
  for (const tag of Object.keys(saver?.stats() ?? {}))
    if (saver?.isPaused(tag)) await saver.resume(tag);
  saver = undefined;
});

async function readBack(
  s: MemorySaver,
  a: Parameters<MemorySaver['copyToHost']>[0],
): Promise<Uint8Array> {
  const out = new Uint8Array(a.size);
  await s.copyToHost(a, out);
  return out;
}

describe(`MemorySaver on ${DEVICE}`, () => {
  it('opens the requested backend', () => {
    const s = open();
    expect(s.device).toBe(DEVICE);
    expect(s.deviceName.startsWith(DEVICE)).toBe(true);
    const memory = s.deviceMemory();
    expect(memory.total).toBeGreaterThan(0);
    expect(memory.free).toBeGreaterThan(0);
    expect(memory.free).toBeLessThanOrEqual(memory.total);
  });

  it('keeps addresses across cycles and restores backed-up content byte for byte', async () => {
    const s = open(MiB);
    const size = 3 * MiB + 12345;
    const weights = await s.allocate(size, { tag: 'weights', cpuBackup: true });
    const kv = await s.allocate(2 * MiB, { tag: 'kv_cache' });
    const data = patternBytes(size, 7);
    await s.copyFromHost(weights, data);
    const sum = await s.checksum(weights);
    const addresses = [weights.address, kv.address];
    for (let cycle = 0; cycle < 3; cycle++) {
      const reserved =
        (s.stats().weights?.reservedBytes ?? 0) + (s.stats().kv_cache?.reservedBytes ?? 0);
      expect(reserved).toBeGreaterThanOrEqual(size + 2 * MiB);
      const paused = await s.pause();
      expect(paused.physicalBytes).toBe(reserved);
      expect(s.isPaused('weights') && s.isPaused('kv_cache')).toBe(true);
      await s.resume();
      expect([weights.address, kv.address]).toEqual(addresses);
      expect(sameBytes(await readBack(s, weights), data)).toBe(true);
      expect(await s.checksum(weights)).toBe(sum);
    }
    await s.fill(kv, 0xab);
    expect((await readBack(s, kv)).every((b) => b === 0xab)).toBe(true);
  });

  it('checksums the same bytes to the same value at any size, and tells changes apart', async () => {
    const s = open();
    const a = await s.allocate(4096 + 5, { tag: 'x' });
    await s.copyFromHost(a, patternBytes(a.size, 3));
    const sum = await s.checksum(a);
    expect(await s.checksum(a, 8, 64)).not.toBe(sum);
    await s.fill(a, 9, 4100, 1);
    expect(await s.checksum(a)).not.toBe(sum);
    await expect(s.checksum(a, 3)).rejects.toThrow(/multiple of 8/);
  });

  it('checksums as the sum of mixWord over 8-byte words, on 16-byte words or 8-byte ones', async () => {
    const s = open();
    const a = await s.allocate(3 * MiB + 5, { tag: 'x' });
    const bytes = patternBytes(a.size, 7);
    await s.copyFromHost(a, bytes);
    // offset 8 leaves the 16-byte loads for the 8-byte path; odd and even word counts; a partial tail.
    const ranges: [offset: number, length: number][] = [
      [0, a.size],
      [8, a.size - 8],
      [0, 3 * MiB - 8],
      [8, 3 * MiB - 8],
      [16, 4096],
    ];
    for (const [offset, length] of ranges) {
      expect(await s.checksum(a, offset, length)).toBe(
        checksumOf(bytes.subarray(offset, offset + length)),
      );
    }
  });

  it('rejects double pause, resume of an active tag and work on paused memory', async () => {
    const s = open();
    const a = await s.allocate(MiB, { tag: 'kv_cache' });
    await expect(s.resume('kv_cache')).rejects.toThrow('resume: tag kv_cache is not paused');
    await s.pause('kv_cache');
    await expect(s.pause('kv_cache')).rejects.toThrow('pause: tag kv_cache is already paused');
    await expect(s.fill(a, 1)).rejects.toThrow(/fill: tag kv_cache is paused/);
    await expect(s.allocate(MiB, { tag: 'kv_cache' })).rejects.toThrow(/tag kv_cache is paused/);
    await s.resume('kv_cache');
    await expect(s.pause('never-used')).resolves.toMatchObject({ physicalBytes: 0 });
    await s.resume('never-used');
  });

  it('rejects bad arguments with clear errors', async () => {
    const s = open();
    await expect(s.allocate(0, { tag: 'w' })).rejects.toThrow(RangeError);
    await expect(s.allocate(10, { tag: '' })).rejects.toThrow(/must not be empty/);
    await expect(s.allocate(10, { cpuBackup: true })).rejects.toThrow(
      /untagged memory .* takes no backup/,
    );
    const a = await s.allocate(100, { tag: 'w' });
    await expect(s.copyFromHost(a, new Uint8Array(101))).rejects.toThrow(
      /outside the allocation of 100 bytes/,
    );
    await expect(s.copyToHost(a, new Uint8Array(10), 95)).rejects.toThrow(/outside/);
    await expect(s.fill(a, 300)).rejects.toThrow(/byte/);
    await s.free(a);
    expect(a.freed).toBe(true);
    await expect(s.fill(a, 1)).rejects.toThrow(/not live/);
    await expect(s.free(a)).rejects.toThrow(/not live/);
    expect(() => openSaver().markDirty(a)).toThrow(/not live/);
  });

  it('keeps untagged memory through a pause of every tag', async () => {
    const s = open();
    const meta = await s.allocate(MiB);
    const data = patternBytes(MiB, 11);
    await s.copyFromHost(meta, data);
    await s.allocate(MiB, { tag: 'kv_cache' });
    await s.pause();
    expect(sameBytes(await readBack(s, meta), data)).toBe(true);
    const untagged = s.stats()[''];
    expect(untagged?.paused).toBe(false);
    expect(untagged?.residentBytes).toBe(untagged?.reservedBytes);
    expect(untagged?.residentBytes).toBeGreaterThanOrEqual(MiB);
  });

  it('rule 13: a resume that fails part-way leaves the tag paused with its backup; a retry restores it', async () => {
    const s = open(MiB);
    const a = await s.allocate(3 * MiB, { tag: 'weights', cpuBackup: true });
    const b = await s.allocate(2 * MiB, { tag: 'weights', cpuBackup: true });
    const data = patternBytes(3 * MiB, 5);
    await s.copyFromHost(a, data);
    await s.pause('weights');
    failMapAfter(s, 1);
    await expect(s.resume('weights')).rejects.toThrow(
      /resume\(weights\) failed, the tag stays paused with its backup: map failed: injected failure/,
    );
    const reserved = s.stats().weights?.reservedBytes;
    expect(reserved).toBeGreaterThanOrEqual(5 * MiB);
    expect(s.stats().weights).toMatchObject({
      paused: true,
      residentBytes: 0,
      backupBytes: reserved,
    });
    await s.resume('weights');
    expect(sameBytes(await readBack(s, a), data)).toBe(true);
    expect(s.stats().weights?.residentBytes).toBe(reserved);
    expect(b.address).toBeGreaterThan(0n);
  });

  it('tracked backups skip the copy while the device still equals the backup', async () => {
    const s = open();
    const w = await s.allocate(2 * MiB, { tag: 'weights', cpuBackup: 'tracked' });
    const data = patternBytes(w.size, 21);
    await s.loadThroughBackup(w, (backup) => backup.set(data));
    expect(sameBytes(await readBack(s, w), data)).toBe(true);
    expect((await s.pause('weights')).copiedBytes).toBe(0);
    expect((await s.resume('weights')).copiedBytes).toBe(w.size);
    expect(sameBytes(await readBack(s, w), data)).toBe(true);
    expect((await s.pause('weights')).copiedBytes).toBe(0);
    await s.resume('weights');
    await s.fill(w, 1, 0, 16);
    expect((await s.pause('weights')).copiedBytes).toBe(w.size);
    await s.resume('weights');
    expect((await readBack(s, w))[0]).toBe(1);
    expect((await s.pause('weights')).copiedBytes).toBe(0);
    await s.resume('weights');
    s.markDirty(w);
    expect((await s.pause('weights')).copiedBytes).toBe(w.size);
  });

  it('a loader that throws uploads nothing and leaves the allocation dirty; its view is detached', async () => {
    const s = open();
    const w = await s.allocate(MiB, { tag: 'weights', cpuBackup: 'tracked' });
    await s.fill(w, 5);
    let kept: Uint8Array | undefined;
    await expect(
      s.loadThroughBackup(w, (backup) => {
        kept = backup;
        backup.fill(9);
        throw new Error('file truncated');
      }),
    ).rejects.toThrow('file truncated');
    expect(kept?.byteLength).toBe(0);
    expect((await readBack(s, w))[0]).toBe(5);
    expect((await s.pause('weights')).copiedBytes).toBe(w.size);
    await s.resume('weights');
    expect((await readBack(s, w))[0]).toBe(5);
    const plain = await s.allocate(MiB, { tag: 'kv_cache' });
    await expect(s.loadThroughBackup(plain, () => {})).rejects.toThrow(/has no backup/);
  });

  it('frees backups on resume when asked to, and then copies again', async () => {
    const s = open(4 * MiB, false);
    const w = await s.allocate(MiB, { tag: 'weights', cpuBackup: 'tracked' });
    await s.fill(w, 3);
    await s.pause('weights');
    expect(s.stats().weights?.backupBytes).toBe(s.stats().weights?.reservedBytes);
    await s.resume('weights');
    expect(s.stats().weights?.backupBytes).toBe(0);
    expect((await readBack(s, w))[0]).toBe(3);
    expect((await s.pause('weights')).copiedBytes).toBe(MiB);
  });
});

describe.runIf(DEVICE === 'cpu')('MemorySaver on cpu: memory really goes back', () => {
  it('a discarded tag drops resident memory by at least 95% of its bytes', async () => {
    const s = open(64 * MiB);
    const kv = await s.allocate(256 * MiB, { tag: 'kv_cache' });
    await s.fill(kv, 1);
    expect(s.residentBytes(kv)).toBe(256 * MiB);
    const before = rssBytes();
    await s.pause('kv_cache');
    expect(before - rssBytes()).toBeGreaterThanOrEqual(0.95 * 256 * MiB);
    expect(s.residentBytes(kv)).toBe(0);
    await s.resume('kv_cache');
    await s.fill(kv, 2);
    expect(s.residentBytes(kv)).toBe(256 * MiB);
  });

  it("a backed-up tag's own pages go, and its one backup is reused, not duplicated", async () => {
    const s = open(64 * MiB);
    const w = await s.allocate(128 * MiB, { tag: 'weights', cpuBackup: true });
    await s.fill(w, 7);
    await s.pause('weights');
    expect(s.residentBytes(w)).toBe(0);
    expect(s.stats().weights?.backupBytes).toBe(128 * MiB);
    await s.resume('weights');
    const afterFirst = rssBytes();
    for (let i = 0; i < 3; i++) {
      await s.pause('weights');
      expect(s.residentBytes(w)).toBe(0);
      await s.resume('weights');
    }
    expect(s.stats().weights?.backupBytes).toBe(128 * MiB);
    expect(rssBytes() - afterFirst).toBeLessThan(16 * MiB);
  });

  it('1,000 pause/resume cycles of a small tag do not grow resident memory', async () => {
    const s = open();
    const w = await s.allocate(64 * 1024, { tag: 'weights', cpuBackup: true });
    const kv = await s.allocate(64 * 1024, { tag: 'kv_cache' });
    await s.fill(w, 1);
    for (let i = 0; i < 50; i++) {
      await s.pause();
      await s.resume();
    }
    const before = rssBytes();
    for (let i = 0; i < 1000; i++) {
      await s.pause();
      await s.resume();
      await s.fill(kv, i & 0xff);
    }
    expect(rssBytes() - before).toBeLessThan(8 * MiB);
    expect((await readBack(s, w)).every((b) => b === 1)).toBe(true);
  });

  it("'cuda' without a GPU fails with a clear message, and 'auto' takes the CPU then", async () => {
    const { createMemorySaver } = await import('./memory-saver.js');
    let cuda: string;
    try {
      cuda = createMemorySaver({ device: 'cuda' }).device;
    } catch (error) {
      expect(String(error)).toMatch(/no CUDA device: /);
      cuda = 'none';
    }
    expect(createMemorySaver({ device: 'auto' }).device).toBe(cuda === 'cuda' ? 'cuda' : 'cpu');
    expect(() => createMemorySaver({ device: 'tpu' as 'cpu' })).toThrow(/device must be/);
  });
});

describe.runIf(DEVICE === 'cuda')('MemorySaver on cuda: the driver sees the memory go back', () => {
  it('after pausing every tag, free device memory is within 64 MiB of where it started', async () => {
    const s = open(1024 * MiB);
    const start = s.deviceMemory().free;
    const w = await s.allocate(2048 * MiB, { tag: 'weights', cpuBackup: true });
    await s.allocate(4096 * MiB, { tag: 'kv_cache' });
    await s.fill(w, 3);
    expect(start - s.deviceMemory().free).toBeGreaterThanOrEqual(6144 * MiB);
    const sum = await s.checksum(w);
    await s.pause();
    expect(Math.abs(start - s.deviceMemory().free)).toBeLessThan(64 * MiB);
    await s.resume();
    expect(await s.checksum(w)).toBe(sum);
  });

  it('a resume that really runs out of device memory fails, keeps the backup, and succeeds on retry', async () => {
    const s = open(1024 * MiB);
    const w = await s.allocate(4096 * MiB, { tag: 'weights', cpuBackup: true });
    await s.fill(w, 0x5a);
    const sum = await s.checksum(w);
    await s.pause('weights');
    const hog = await s.allocate(s.deviceMemory().free - 2048 * MiB, { tag: 'trainer' });
    await expect(s.resume('weights')).rejects.toThrow(
      /stays paused with its backup: cuMemCreate.*OUT_OF_MEMORY/,
    );
    expect(s.stats().weights).toMatchObject({ paused: true, residentBytes: 0 });
    await s.free(hog);
    await s.resume('weights');
    expect(await s.checksum(w)).toBe(sum);
  });
});

const WORD = (1n << 64n) - 1n;

/** checksum.h's mixWord and its sum, in BigInt: the reference both backends' kernels are held to. */
function mixWord(word: bigint, index: bigint): bigint {
  let z = word ^ ((index * 0x9e3779b97f4a7c15n) & WORD);
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & WORD;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & WORD;
  return z ^ (z >> 31n);
}

function checksumOf(bytes: Uint8Array): bigint {
  const padded = new Uint8Array(Math.ceil(bytes.length / 8) * 8);
  padded.set(bytes);
  const words = new DataView(padded.buffer);
  let sum = 0n;
  for (let i = 0; i < padded.length / 8; i++)
    sum = (sum + mixWord(words.getBigUint64(i * 8, true), BigInt(i))) & WORD;
  return sum;
}
