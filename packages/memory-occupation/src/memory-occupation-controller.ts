import type { ControlResult, MemoryGate } from '@ts/pause';
import { DEFAULT_TAGS } from './memory-tags.js';
import { listTags, selectTags } from './tag-selection.js';
import type {
  KvPoolRegistry,
  MemoryOccupationOptions,
  MemorySaver,
  PrefixCache,
  ReleaseReply,
  ResumeReply,
  SleepStatus,
} from './types.js';

type Operation = 'release' | 'resume';

/**
 * Releases and resumes device memory by tag. The only writer of the pause controller's
 * "released" flag (through its `MemoryGate`). Every method answers `{ success, message }`
 * and never throws; a failed call changes nothing unless its message says otherwise.
 */
export class MemoryOccupationController {
  private readonly saver: MemorySaver;
  private readonly tags: readonly string[];
  private readonly kvTag: string;
  private readonly prefixCache: PrefixCache | null;
  private readonly kvPools: KvPoolRegistry;
  private readonly beforeKvRelease: () => void | Promise<void>;
  private readonly now: () => number;
  private readonly released = new Set<string>();
  private operation: Operation | null = null;

  constructor(
    private readonly gate: MemoryGate,
    options: MemoryOccupationOptions,
  ) {
    this.saver = options.saver;
    this.tags = [...(options.tags ?? DEFAULT_TAGS)];
    this.kvTag = options.kvTag ?? 'kv_cache';
    this.prefixCache = options.prefixCache;
    this.kvPools = options.kvPools;
    this.beforeKvRelease = options.beforeKvRelease ?? (() => {});
    this.now = options.now ?? (() => performance.now());
  }

  /** Tags released now, in tag order. */
  get releasedTags(): string[] {
    return this.tags.filter((t) => this.released.has(t));
  }

  isSleeping(): SleepStatus {
    const residentBytes: Record<string, number> = {};
    for (const tag of this.tags) residentBytes[tag] = this.saver.bytes(tag);
    const isSleeping = this.released.size > 0;
    const message = isSleeping ? `released: ${listTags(this.releasedTags)}` : 'awake';
    return { success: true, message, isSleeping, releasedTags: this.releasedTags, residentBytes };
  }

  /**
   * Drains the scheduler (spec rule 1), then frees the tags (all when omitted). Replies when
   * the memory is free; a cancelled drain replies failure and frees nothing.
   */
  async release(tags?: readonly string[]): Promise<ReleaseReply> {
    const start = this.now();
    const reply = (success: boolean, message: string, freedBytes = 0): ReleaseReply => ({
      success,
      message,
      releasedTags: this.releasedTags,
      freedBytes,
      durationMs: this.now() - start,
    });
    const busy = this.busyMessage();
    if (busy) return reply(false, busy);
    const selection = selectTags(tags, this.tags, this.tags);
    if (!selection.ok) return reply(false, selection.message);
    const again = selection.tags.filter((t) => this.released.has(t));
    if (again.length > 0) return reply(false, `tags already released: ${listTags(again)}`);
    const releasesKv = selection.tags.includes(this.kvTag);
    if (releasesKv && this.prefixCache === null) {
      return reply(
        false,
        `${this.kvTag} cannot be released: this engine's prefix cache cannot be reset`,
      );
    }

    this.operation = 'release';
    try {
      const drained = await this.drain();
      if (!drained.success)
        return reply(false, `release cancelled, nothing freed: ${drained.message}`);
      return await this.freeTags(selection.tags, releasesKv, reply);
    } finally {
      this.operation = null;
    }
  }

  /**
   * Takes the tags back (the released ones when omitted), zeroes every KV pool when the KV
   * tag comes back, and lifts the released flag when nothing stays released. A failure rolls
   * back what this call resumed, so the tags stay released and a retry can succeed.
   */
  async resume(tags?: readonly string[]): Promise<ResumeReply> {
    const start = this.now();
    const reply = (
      success: boolean,
      message: string,
      resumedTags: string[] = [],
      repairedPools: string[] = [],
    ): ResumeReply => ({
      success,
      message,
      releasedTags: this.releasedTags,
      resumedTags,
      repairedPools,
      durationMs: this.now() - start,
    });
    const busy = this.busyMessage();
    if (busy) return reply(false, busy);
    if (tags === undefined && this.released.size === 0) return reply(true, 'nothing is released');
    const selection = selectTags(tags, this.tags, this.releasedTags);
    if (!selection.ok) return reply(false, selection.message);
    const awake = selection.tags.filter((t) => !this.released.has(t));
    if (awake.length > 0) return reply(false, `tags not released: ${listTags(awake)}`);

    this.operation = 'resume';
    try {
      const resumed: string[] = [];
      let repaired: string[] = [];
      try {
        for (const tag of selection.tags) {
          await this.saver.resume(tag);
          resumed.push(tag);
        }
        if (resumed.includes(this.kvTag)) repaired = await this.repairKvPools();
      } catch (error) {
        const rollback = await this.rollBack(resumed);
        return reply(false, `resume failed, tags stay released: ${describe(error)}${rollback}`);
      }
      for (const tag of resumed) this.released.delete(tag);
      this.gate.setReleased(this.released.size > 0);
      const still = this.releasedTags;
      const rest =
        still.length > 0
          ? `; still released: ${listTags(still)} (no forward pass runs until every tag is back)`
          : '';
      return reply(true, `resumed ${listTags(resumed)}${rest}`, resumed, repaired);
    } finally {
      this.operation = null;
    }
  }

  private busyMessage(): string | null {
    if (this.operation === 'release') {
      return 'a release is in progress (draining or freeing): retry once it has replied';
    }
    if (this.operation === 'resume') return 'a resume is in progress: retry once it has replied';
    return null;
  }

  private drain(): Promise<ControlResult> {
    return new Promise((resolve) => {
      const started = this.gate.drainForRelease({
        onDrained: () => resolve({ success: true, message: 'drained' }),
        onCancelled: (reason) => resolve({ success: false, message: reason }),
      });
      if (!started.success) resolve(started);
    });
  }

  private async freeTags(
    tags: string[],
    releasesKv: boolean,
    reply: (success: boolean, message: string, freedBytes?: number) => ReleaseReply,
  ): Promise<ReleaseReply> {
    let freedBytes = 0;
    try {
      if (releasesKv) {
        await this.beforeKvRelease();
        await this.prefixCache?.reset();
      }
      await this.saver.synchronize?.();
      for (const tag of tags) {
        const held = this.saver.bytes(tag);
        await this.saver.pause(tag);
        this.released.add(tag);
        freedBytes += held - this.saver.bytes(tag);
      }
    } catch (error) {
      this.gate.setReleased(this.released.size > 0);
      const freed = tags.filter((t) => this.released.has(t));
      return reply(
        false,
        `release failed after freeing ${listTags(freed)}: ${describe(error)}`,
        freedBytes,
      );
    }
    this.gate.setReleased(true);
    return reply(true, `released ${listTags(tags)}`, freedBytes);
  }

  private async repairKvPools(): Promise<string[]> {
    const repaired: string[] = [];
    for (const pool of this.kvPools.list()) {
      await pool.repair();
      repaired.push(pool.name);
    }
    return repaired;
  }

  /** Pauses again what a failed resume took back, newest first; reports any that stayed awake. */
  private async rollBack(resumed: string[]): Promise<string> {
    const stuck: string[] = [];
    for (const tag of [...resumed].reverse()) {
      try {
        await this.saver.pause(tag);
      } catch (error) {
        this.released.delete(tag);
        stuck.push(`${tag} (${describe(error)})`);
      }
    }
    if (stuck.length === 0) return '';
    this.gate.setReleased(this.released.size > 0);
    return `; rollback failed, these are awake again: ${stuck.join(', ')}`;
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
