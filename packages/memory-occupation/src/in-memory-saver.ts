import type { MemorySaver } from './types.js';

/**
 * A reference `MemorySaver` over plain byte arrays, for tests of code that drives the port:
 * it enforces the port's contract (no double pause, no resume of an awake tag, a failed
 * resume keeps the tag paused with its backup) and can be told to fail a call.
 */
export class InMemorySaver implements MemorySaver {
  private readonly content = new Map<string, Uint8Array>();
  private readonly backups = new Map<string, Uint8Array | null>();
  private readonly failures = new Map<string, Error>();
  private readonly sizes = new Map<string, number>();
  readonly calls: string[] = [];
  synchronizations = 0;

  constructor(
    sizes: Record<string, number>,
    private readonly backedUp: readonly string[] = ['weights'],
  ) {
    for (const [tag, size] of Object.entries(sizes)) {
      this.sizes.set(tag, size);
      this.content.set(tag, new Uint8Array(size));
    }
  }

  /** The tag's device bytes; throws if the tag is paused (a stray access faults). */
  view(tag: string): Uint8Array {
    if (this.backups.has(tag)) throw new Error(`${tag} is paused: its memory is not mapped`);
    return this.content.get(tag) ?? new Uint8Array(0);
  }

  isPaused(tag: string): boolean {
    return this.backups.has(tag);
  }

  pausedTags(): string[] {
    return [...this.backups.keys()].sort();
  }

  /** Makes the next call of `op` ('pause' | 'resume') on `tag` throw `error`. */
  failNext(op: 'pause' | 'resume', tag: string, error = new Error(`injected ${op} failure`)): void {
    this.failures.set(`${op}:${tag}`, error);
  }

  pause(tag: string): void {
    this.calls.push(`pause:${tag}`);
    this.injected('pause', tag);
    if (this.backups.has(tag)) throw new Error(`pause(${tag}): already paused`);
    const bytes = this.content.get(tag) ?? new Uint8Array(0);
    this.backups.set(tag, this.backedUp.includes(tag) ? bytes.slice() : null);
    this.content.set(tag, new Uint8Array(0));
  }

  resume(tag: string): void {
    this.calls.push(`resume:${tag}`);
    this.injected('resume', tag);
    const backup = this.backups.get(tag);
    if (backup === undefined) throw new Error(`resume(${tag}): not paused`);
    this.backups.delete(tag);
    this.content.set(tag, backup ?? new Uint8Array(this.sizes.get(tag) ?? 0).fill(0xcd));
  }

  bytes(tag: string): number {
    return this.content.get(tag)?.length ?? 0;
  }

  synchronize(): void {
    this.synchronizations += 1;
  }

  private injected(op: string, tag: string): void {
    const error = this.failures.get(`${op}:${tag}`);
    if (!error) return;
    this.failures.delete(`${op}:${tag}`);
    throw error;
  }
}
