import { open } from 'node:fs/promises';
import { SHARED_FILE_HEADER_BYTES, SHARED_MEMORY_DIR } from './shared-file-tensor.js';
import { IPC_REF_COUNTERS_PER_FILE, type IpcRefCounter } from './torch-globals.js';

const COUNTER_BYTES = 8;

/**
 * Lowers, once each, the sender's counters of the CUDA storages a reader is done with, as
 * torch's own reader does when it frees a received storage: until then the trainer keeps
 * each sent block allocated (in its "limbo"), so a reader that never lowers them grows the
 * trainer's memory every update. Best effort, as torch's: a counter whose file is gone (the
 * trainer exited) is skipped.
 */
export async function releaseIpcRefCounters(
  counters: Iterable<IpcRefCounter>,
  dir = SHARED_MEMORY_DIR,
): Promise<void> {
  for (const counter of counters) {
    const file = await open(`${dir}${counter.name}`, 'r+').catch(() => null);
    if (!file) continue;
    try {
      const { size } = await file.stat();
      if (size < SHARED_FILE_HEADER_BYTES + IPC_REF_COUNTERS_PER_FILE * COUNTER_BYTES) continue;
      const at = SHARED_FILE_HEADER_BYTES + counter.slot * COUNTER_BYTES;
      const value = Buffer.alloc(COUNTER_BYTES);
      await file.read(value, 0, COUNTER_BYTES, at);
      value.writeBigInt64LE(value.readBigInt64LE() - 1n);
      await file.write(value, 0, COUNTER_BYTES, at);
    } finally {
      await file.close();
    }
  }
}
