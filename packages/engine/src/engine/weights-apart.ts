import type { ControlResult } from '@ts/pause';

/**
 * Which weights the data-parallel ranks may hold differently. An update that some ranks took and
 * others refused (a fault of one rank alone: its GPU could not open a handle) leaves them apart,
 * and a request would then answer with other weights depending on its rank. While any weight is
 * apart the engine refuses to generate; the next update of those weights that every rank takes
 * brings them together again (one of every weight, from disk, brings all).
 */
export class WeightsApart {
  private readonly apart = new Set<string>();

  /** `weights`: every weight's name. */
  constructor(private readonly weights: readonly string[]) {}

  /**
   * Counts in the per-rank replies of an update of `names` (null: every weight); returns what to
   * add to the update's message (empty when nothing changed apart).
   */
  after(replies: readonly ControlResult[], names: readonly string[] | null): string {
    const updated = names ?? this.weights;
    const took = replies.filter((r) => r.success).length;
    if (took === replies.length) {
      for (const name of updated) this.apart.delete(name);
      return '';
    }
    if (took === 0) return '';
    for (const name of updated) this.apart.add(name);
    return (
      `; ${took} of ${replies.length} data-parallel ranks took it, so the ranks now hold ` +
      `different weights (${this.apart.size} tensors): generation is refused until an update of ` +
      'them succeeds on every rank'
    );
  }

  /** Why generation is refused now, or null. */
  refusal(): string | null {
    if (this.apart.size === 0) return null;
    const names = [...this.apart];
    const listed = names.slice(0, 3).join(', ') + (names.length > 3 ? ', ...' : '');
    return (
      `the data-parallel ranks hold different weights (${names.length} tensors: ${listed}) ` +
      'since a weight update failed on some of them: update those weights again'
    );
  }
}
