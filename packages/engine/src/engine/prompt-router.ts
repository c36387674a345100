import { createHash } from 'node:crypto';

/** What the router needs of a rank: its requests in flight. */
export interface RoutedRank {
  inFlight: number;
}

/** Prefix lengths remembered per routed prompt: 64, 128, 256, ... tokens. */
const FIRST_PREFIX = 64;
/** Prefix keys remembered at most (the oldest are forgotten first). */
const MAX_REMEMBERED = 1 << 16;

/**
 * Picks a data-parallel rank per request, so that prompts sharing a prefix meet the rank whose
 * prefix cache holds it:
 * - a prompt identical to one in flight goes where that one is (n samples of a prompt, a GRPO
 *   group): the rank computes it once;
 * - else a prompt that starts with a recently routed prompt's prefix of 64, 128, 256, ... tokens
 *   covering at least half of it goes where that one went (the next turn of a conversation);
 * - else the least loaded rank.
 * A rank holding more than `maxSkew` times the average load (plus one) is not followed: a hot
 * prompt spills over instead of piling up. Shorter shared prefixes (a system prompt) do not
 * count, or every conversation would follow the first.
 */
export class PromptRouter<R extends RoutedRank> {
  private readonly homes = new Map<string, { rank: R; inFlight: number }>();
  private readonly prefixes = new Map<string, R>();

  constructor(
    private readonly ranks: readonly R[],
    private readonly maxSkew = 4,
  ) {}

  /**
   * The rank for a prompt (rank `chosen` where the caller names one); call `done` with the
   * same key when its request ends.
   */
  pick(inputIds: readonly number[], chosen?: number): { rank: R; key: string } {
    const key = hashOf(inputIds, inputIds.length);
    const home = this.homes.get(key);
    const prefixKeys = prefixLengths(inputIds.length).map((n) => hashOf(inputIds, n));
    const rank =
      (chosen === undefined ? undefined : this.ranks[chosen]) ??
      this.followed(home?.rank) ??
      this.followed(this.sharedPrefixRank(prefixKeys, inputIds.length)) ??
      this.leastLoaded();
    if (!home) this.homes.set(key, { rank, inFlight: 1 });
    else home.inFlight += 1;
    this.remember(prefixKeys, rank);
    return { rank, key };
  }

  done(key: string): void {
    const home = this.homes.get(key);
    if (!home) return;
    home.inFlight -= 1;
    if (home.inFlight === 0) this.homes.delete(key);
  }

  /** `rank`, unless it holds more than maxSkew times the average load (plus one). */
  private followed(rank: R | undefined): R | undefined {
    if (!rank) return undefined;
    const average = this.ranks.reduce((n, r) => n + r.inFlight, 0) / this.ranks.length;
    return rank.inFlight <= this.maxSkew * (average + 1) ? rank : undefined;
  }

  /** Where the longest remembered prefix of at least half the prompt went. */
  private sharedPrefixRank(prefixKeys: readonly string[], length: number): R | undefined {
    const lengths = prefixLengths(length);
    for (let i = prefixKeys.length - 1; i >= 0 && 2 * (lengths[i] as number) >= length; i--) {
      const rank = this.prefixes.get(prefixKeys[i] as string);
      if (rank) return rank;
    }
    return undefined;
  }

  private remember(prefixKeys: readonly string[], rank: R): void {
    for (const key of prefixKeys) {
      this.prefixes.delete(key); // re-inserted last: the newest
      this.prefixes.set(key, rank);
    }
    while (this.prefixes.size > MAX_REMEMBERED) {
      this.prefixes.delete(this.prefixes.keys().next().value as string);
    }
  }

  private leastLoaded(): R {
    return this.ranks.reduce((best, r) => (r.inFlight < best.inFlight ? r : best));
  }
}

/** 64, 128, 256, ... up to `length`. */
function prefixLengths(length: number): number[] {
  const lengths: number[] = [];
  for (let n = FIRST_PREFIX; n <= length; n *= 2) lengths.push(n);
  return lengths;
}

function hashOf(inputIds: readonly number[], length: number): string {
  return createHash('sha1')
    .update(Int32Array.from(inputIds.slice(0, length)))
    .digest('base64');
}
