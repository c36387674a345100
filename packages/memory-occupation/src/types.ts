import type { ControlResult } from '@ts/pause';

/**
 * The narrow port to whatever owns the device memory (the native saver, or an RL stack's own).
 * `pause` frees the physical memory of a tag (keeping a backup where the tag wants one) and
 * `resume` takes it back at the same addresses (either may return a promise, which is awaited). Either may throw; a `resume` that throws
 * must leave the tag paused with its backup intact (spec rule 13).
 */
export interface MemorySaver {
  pause(tag: string): unknown;
  resume(tag: string): unknown;
  /** Bytes of device memory the tag physically holds now. */
  bytes(tag: string): number;
  /** Waits for every stream that may touch tagged memory; called before any unmap. */
  synchronize?(): unknown;
}

/** A KV pool, repaired right after its memory comes back. */
export interface KvPoolHandle {
  readonly name: string;
  /** Called right after a `kv_cache` resume; leaves every buffer of the pool zeroed. */
  repair(): void | Promise<void>;
}

/** Lists every KV pool (target and draft), so a repair can never miss one (spec rule 10). */
export interface KvPoolRegistry {
  list(): Iterable<KvPoolHandle>;
}

/** A prefix cache whose entries point into the KV pools. */
export interface PrefixCache {
  reset(): void | Promise<void>;
}

export interface MemoryOccupationOptions {
  saver: MemorySaver;
  /** Tags this engine knows, in the order they are released and resumed. */
  tags?: readonly string[];
  /** The tag whose release discards KV (reset prefix cache, repair pools on resume). */
  kvTag?: string;
  /**
   * The prefix cache, or `null` when this configuration cannot reset it: then every release
   * of the KV tag fails closed (spec rule 9). Decided once, here.
   */
  prefixCache: PrefixCache | null;
  kvPools: KvPoolRegistry;
  /** Runs after the drain and before KV is freed: retract requests that hold KV (rule 8). */
  beforeKvRelease?(): void | Promise<void>;
  /** Time source in milliseconds; replies report durations with it. */
  now?(): number;
}

export interface ReleaseReply extends ControlResult {
  /** Tags released after this call, this call's and earlier ones. */
  releasedTags: string[];
  freedBytes: number;
  durationMs: number;
}

export interface ResumeReply extends ControlResult {
  releasedTags: string[];
  resumedTags: string[];
  /** Names of the KV pools zeroed by this call. */
  repairedPools: string[];
  durationMs: number;
}

export interface SleepStatus extends ControlResult {
  isSleeping: boolean;
  releasedTags: string[];
  /** Bytes each tag physically holds now. */
  residentBytes: Record<string, number>;
}
