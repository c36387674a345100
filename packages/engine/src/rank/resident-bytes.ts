import type { KvPool } from '@ts/kv-pool';
import type { MemorySaver } from '@ts/memory-saver-native';

/**
 * Bytes each tag of `saver` physically holds now, the KV pools' as the device holds them (on
 * the CPU, the OS's count: untouched pages of a mapped pool are not resident), not the mapped size.
 */
export function residentBytesOf(
  saver: MemorySaver,
  pools: readonly KvPool[],
): Record<string, number> {
  const residentBytes: Record<string, number> = {};
  for (const [tag, stats] of Object.entries(saver.stats()))
    if (tag) residentBytes[tag] = stats.residentBytes;
  if (!saver.isPaused('kv_cache'))
    residentBytes.kv_cache = pools.reduce((n, pool) => n + saver.residentBytes(pool.allocation), 0);
  return residentBytes;
}

/** `into` plus `more`, tag by tag. */
export function addBytes(into: Record<string, number>, more: Record<string, number>): void {
  for (const [tag, bytes] of Object.entries(more)) into[tag] = (into[tag] ?? 0) + bytes;
}
