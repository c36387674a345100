import { createHash } from 'node:crypto';

/** What the router needs of a rank: its requests in flight. */
export interface RoutedRank {
  inFlight: number;
}

/**
 * Picks a data-parallel rank per request: the least loaded, except that a prompt identical to
 * one still in flight goes where that one is (n samples of a prompt, a GRPO group), so the
 * rank's prefix cache computes it once. A rank more than `maxSkew` times the average load
 * (plus one) is not followed: a hot prompt spills over instead of piling up.
 */
export class PromptRouter<R extends RoutedRank> {
  private readonly homes = new Map<string, { rank: R; inFlight: number }>();

  constructor(
    private readonly ranks: readonly R[],
    private readonly maxSkew = 4,
  ) {}

  /**
   * The rank for a prompt (rank `chosen` where the caller names one); call `done` with the
   * same key when its request ends.
   */
  pick(inputIds: readonly number[], chosen?: number): { rank: R; key: string } {
    const key = promptKey(inputIds);
    const home = this.homes.get(key);
    const average = this.ranks.reduce((n, r) => n + r.inFlight, 0) / this.ranks.length;
    const named = chosen === undefined ? undefined : this.ranks[chosen];
    const follows = home && home.rank.inFlight <= this.maxSkew * (average + 1);
    const rank = named ?? (follows ? home.rank : this.leastLoaded());
    if (!home) this.homes.set(key, { rank, inFlight: 1 });
    else home.inFlight += 1;
    return { rank, key };
  }

  done(key: string): void {
    const home = this.homes.get(key);
    if (!home) return;
    home.inFlight -= 1;
    if (home.inFlight === 0) this.homes.delete(key);
  }

  private leastLoaded(): R {
    return this.ranks.reduce((best, r) => (r.inFlight < best.inFlight ? r : best));
  }
}

function promptKey(inputIds: readonly number[]): string {
  return createHash('sha1').update(Int32Array.from(inputIds)).digest('base64');
}
