/** The best merge of two adjacent tokens: the merged id, or -1 when the pair is no token. */
export type PairLookup = (left: number, right: number) => number;

interface Candidate {
  readonly score: number;
  readonly left: number;
  readonly leftId: number;
  readonly rightId: number;
  readonly merged: number;
}

/** Candidates ordered by score, then by position (leftmost first), as llama2.c's scan picks. */
function before(a: Candidate, b: Candidate): boolean {
  return a.score > b.score || (a.score === b.score && a.left < b.left);
}

class CandidateHeap {
  private readonly items: Candidate[] = [];

  push(item: Candidate): void {
    const items = this.items;
    items.push(item);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(item, items[parent] as Candidate)) break;
      items[i] = items[parent] as Candidate;
      i = parent;
    }
    items[i] = item;
  }

  pop(): Candidate | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length === 0 || last === undefined) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= items.length) break;
      const r = l + 1;
      const child =
        r < items.length && before(items[r] as Candidate, items[l] as Candidate) ? r : l;
      if (!before(items[child] as Candidate, last)) break;
      items[i] = items[child] as Candidate;
      i = child;
    }
    items[i] = last;
    return top;
  }
}

/**
 * llama2.c's BPE: repeatedly merge the adjacent pair whose merged token has the highest score
 * (the leftmost on ties; scores must exceed -1e10), until no pair is a token. Same result as
 * run.c's quadratic scan, in O(n log n): a linked list of tokens and a heap of candidate pairs
 * checked against the list when popped.
 */
export function mergeByScore(
  tokens: readonly number[],
  lookup: PairLookup,
  score: (id: number) => number,
): number[] {
  const ids = [...tokens];
  const next = ids.map((_, i) => (i + 1 < ids.length ? i + 1 : -1));
  const prev = ids.map((_, i) => i - 1);
  const alive = ids.map(() => true);
  const heap = new CandidateHeap();
  const consider = (left: number) => {
    const right = left < 0 ? -1 : (next[left] as number);
    if (right < 0) return;
    const leftId = ids[left] as number;
    const rightId = ids[right] as number;
    const merged = lookup(leftId, rightId);
    if (merged < 0) return;
    const s = score(merged);
    if (s > -1e10) heap.push({ score: s, left, leftId, rightId, merged });
  };
  for (let i = 0; i + 1 < ids.length; i++) consider(i);
  for (let c = heap.pop(); c !== undefined; c = heap.pop()) {
    const right = next[c.left] as number;
    if (!alive[c.left] || right < 0 || ids[c.left] !== c.leftId || ids[right] !== c.rightId)
      continue;
    ids[c.left] = c.merged;
    alive[right] = false;
    const after = next[right] as number;
    next[c.left] = after;
    if (after >= 0) prev[after] = c.left;
    consider(prev[c.left] as number);
    consider(c.left);
  }
  return ids.filter((_, i) => alive[i]);
}
