import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { releaseIpcRefCounters } from './ipc-ref-counter.js';
import { SHARED_FILE_HEADER_BYTES } from './shared-file-tensor.js';
import { IPC_REF_COUNTERS_PER_FILE } from './torch-globals.js';

const FILE_BYTES = SHARED_FILE_HEADER_BYTES + IPC_REF_COUNTERS_PER_FILE * 8;

function counterFile(
  dir: string,
  name: string,
  counts: Record<number, bigint>,
  bytes = FILE_BYTES,
) {
  const data = Buffer.alloc(bytes);
  for (const [slot, n] of Object.entries(counts))
    data.writeBigInt64LE(n, SHARED_FILE_HEADER_BYTES + Number(slot) * 8);
  writeFileSync(join(dir, name), data);
}

const countAt = (dir: string, name: string, slot: number) =>
  readFileSync(join(dir, name)).readBigInt64LE(SHARED_FILE_HEADER_BYTES + slot * 8);

describe("releasing the sender's CUDA IPC reference counters", () => {
  it('lowers each named counter by one, past the 64-byte header, and leaves the others', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ipc-counter-'));
    counterFile(dir, 'torch_1_2_0', { 0: 5n, 7: 1n, 9999: 2n });
    await releaseIpcRefCounters(
      [
        { name: '/torch_1_2_0', slot: 7 },
        { name: '/torch_1_2_0', slot: 9_999 },
      ],
      dir,
    );
    expect([0, 7, 9_999].map((slot) => countAt(dir, 'torch_1_2_0', slot))).toEqual([5n, 0n, 1n]);
    expect(readFileSync(join(dir, 'torch_1_2_0')).subarray(0, SHARED_FILE_HEADER_BYTES)).toEqual(
      Buffer.alloc(SHARED_FILE_HEADER_BYTES),
    );
  });

  it('skips a file that is gone (the trainer exited) or is not a counter file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ipc-counter-'));
    counterFile(dir, 'torch_short', { 0: 1n }, SHARED_FILE_HEADER_BYTES + 8);
    counterFile(dir, 'torch_1_2_0', { 3: 1n });
    await releaseIpcRefCounters(
      [
        { name: '/torch_gone', slot: 0 },
        { name: '/torch_short', slot: 0 },
        { name: '/torch_1_2_0', slot: 3 },
      ],
      dir,
    );
    expect(countAt(dir, 'torch_short', 0)).toBe(1n);
    expect(countAt(dir, 'torch_1_2_0', 3)).toBe(0n);
  });
});
