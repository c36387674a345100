import type { MemorySaver } from '@ts/memory-saver-native';
import { median } from './format.js';

const MiB = 1024 ** 2;

export interface ReadBandwidth {
  /** Size of the buffer read. */
  bytes: number;
  /** Timed passes over the whole buffer. */
  passes: number;
  /**
   * Median rate of a read-only pass over the whole buffer, 1e9 bytes per second, less a call's
   * fixed cost (the median of passes over 4 KiB: launch, sync and the result's copy back).
   */
  gbPerS: number;
  /**
   * The same pass over a range that stays in cache (CPU only, else null): when this is not
   * clearly higher than `gbPerS`, the pass is bound by its arithmetic, not by memory.
   */
  cachedGbPerS: number | null;
}

async function medianMs(passes: number, pass: () => Promise<unknown>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < passes; i++) {
    const start = performance.now();
    await pass();
    times.push(performance.now() - start);
  }
  return median(times);
}

/**
 * The device's read bandwidth: the saver's checksum (a read-only pass over 8-byte words, on
 * all threads on the CPU) over a buffer larger than the caches, filled first so every page is
 * real memory. Median of `passes` after one warm-up pass.
 */
export async function measureReadBandwidth(
  saver: MemorySaver,
  bytes: number,
  passes = 5,
): Promise<ReadBandwidth> {
  const buffer = await saver.allocate(bytes, { tag: 'bench' });
  try {
    await saver.fill(buffer, 0x5a);
    await saver.checksum(buffer);
    const ms = await medianMs(passes, () => saver.checksum(buffer));
    const fixedMs = await medianMs(passes, () => saver.checksum(buffer, 0, 4096));
    let cachedGbPerS: number | null = null;
    if (saver.device === 'cpu') {
      const cached = Math.min(8 * MiB, bytes);
      await saver.checksum(buffer, 0, cached);
      cachedGbPerS =
        cached / 1e6 / (await medianMs(4 * passes, () => saver.checksum(buffer, 0, cached)));
    }
    const readMs = ms > fixedMs ? ms - fixedMs : ms;
    return { bytes, passes, gbPerS: bytes / 1e6 / readMs, cachedGbPerS };
  } finally {
    await saver.free(buffer);
  }
}
