import type { PageAllocator } from '@ts/kv-pool';

interface CacheNode {
  readonly key: string;
  readonly page: number;
  readonly parent: CacheNode | null;
  readonly children: Map<string, CacheNode>;
  lastUsed: number;
}

/**
 * A radix tree over full KV pages: each node is one page, keyed by the tokens it holds, under
 * the node of the page before it. The cache holds one reference on each of its pages; a hit
 * adds one for the sequence. Pages that only the cache holds are evicted least recently used
 * first; `reset()` gives every page back (the KV behind them is gone).
 */
export class PrefixCache {
  private readonly root: CacheNode = {
    key: '',
    page: -1,
    parent: null,
    children: new Map(),
    lastUsed: 0,
  };
  private clock = 0;
  private readonly byPage = new Map<number, CacheNode>();
  /** Leaves that may be evictable, by the last use they had when pushed (checked on pop). */
  private readonly candidates = new LeafHeap();

  constructor(
    private readonly pages: PageAllocator,
    readonly pageSize: number,
  ) {
    pages.watchCachedOnly((page) => {
      const node = this.byPage.get(page);
      if (node && node.children.size === 0) this.addCandidate(node);
    });
  }

  /** Pages the cache holds. */
  get size(): number {
    return this.byPage.size;
  }

  /**
   * The cached pages of the longest page-aligned prefix of `tokens`, at most `maxTokens` long,
   * each retained for the caller.
   */
  match(tokens: readonly number[], maxTokens = tokens.length): number[] {
    const found: number[] = [];
    let node = this.root;
    const tick = ++this.clock;
    for (
      let start = 0;
      start + this.pageSize <= Math.min(tokens.length, maxTokens);
      start += this.pageSize
    ) {
      const child = node.children.get(this.keyOf(tokens, start));
      if (!child) break;
      child.lastUsed = tick;
      found.push(child.page);
      node = child;
    }
    this.pages.retain(found);
    return found;
  }

  /**
   * Caches the full pages of the first `length` tokens (whose KV is in `pageTable`) that are
   * not cached yet.
   */
  insert(tokens: readonly number[], pageTable: readonly number[], length = tokens.length): void {
    let node = this.root;
    const tick = ++this.clock;
    const end = Math.min(length, tokens.length);
    for (let i = 0; (i + 1) * this.pageSize <= end && i < pageTable.length; i++) {
      const key = this.keyOf(tokens, i * this.pageSize);
      let child = node.children.get(key);
      if (!child) {
        const page = pageTable[i] as number;
        this.pages.retainCached([page]);
        child = { key, page, parent: node, children: new Map(), lastUsed: tick };
        node.children.set(key, child);
        this.byPage.set(page, child);
      }
      child.lastUsed = tick;
      node = child;
    }
  }

  /**
   * Frees up to `wanted` pages held only by the cache, least recently used leaves first (a
   * parent becomes a candidate once its last child is gone).
   */
  evict(wanted: number): number {
    let freed = 0;
    while (freed < wanted) {
      const entry = this.candidates.pop();
      if (!entry) break;
      const { node, lastUsed } = entry;
      if (this.byPage.get(node.page) !== node || node.children.size > 0 || !this.evictable(node))
        continue;
      if (lastUsed !== node.lastUsed) {
        this.addCandidate(node);
        continue;
      }
      this.remove(node);
      freed += 1;
      const parent = node.parent;
      if (parent && parent !== this.root && parent.children.size === 0 && this.evictable(parent))
        this.addCandidate(parent);
    }
    return freed;
  }

  /** Drops every page that no running sequence uses (a cache flush). */
  flush(): number {
    return this.evict(Number.POSITIVE_INFINITY);
  }

  /** Gives every page back and forgets everything: the KV behind the pages is gone. */
  reset(): void {
    const all: number[] = [];
    const walk = (node: CacheNode) => {
      for (const child of node.children.values()) {
        all.push(child.page);
        walk(child);
      }
    };
    walk(this.root);
    this.root.children.clear();
    this.byPage.clear();
    this.candidates.clear();
    this.pages.releaseCached(all);
  }

  private keyOf(tokens: readonly number[], start: number): string {
    return tokens.slice(start, start + this.pageSize).join(',');
  }

  /**
   * Pushes a leaf that may be evictable. Stale entries (used again, held again, no longer a
   * leaf) are dropped as they come up; past twice the cache's size the heap is rebuilt from the
   * tree, so it stays bounded while nothing is evicted.
   */
  private addCandidate(node: CacheNode): void {
    this.candidates.push(node);
    if (this.candidates.size <= 2 * this.byPage.size + 1024) return;
    this.candidates.clear();
    const walk = (n: CacheNode) => {
      for (const child of n.children.values()) {
        if (child.children.size > 0) walk(child);
        else if (this.evictable(child)) this.candidates.push(child);
      }
    };
    walk(this.root);
  }

  private evictable(node: CacheNode): boolean {
    return this.pages.references(node.page) === 1;
  }

  private remove(node: CacheNode): void {
    node.parent?.children.delete(node.key);
    this.byPage.delete(node.page);
    this.pages.releaseCached([node.page]);
  }
}

/** A leaf and its last use when pushed: oldest on top (a binary heap). */
interface Candidate {
  readonly node: CacheNode;
  readonly lastUsed: number;
}

class LeafHeap {
  private entries: Candidate[] = [];

  get size(): number {
    return this.entries.length;
  }

  push(node: CacheNode): void {
    const a = this.entries;
    const entry = { node, lastUsed: node.lastUsed };
    a.push(entry);
    for (let i = a.length - 1; i > 0; ) {
      const up = (i - 1) >> 1;
      if ((a[up] as Candidate).lastUsed <= entry.lastUsed) break;
      a[i] = a[up] as Candidate;
      a[up] = entry;
      i = up;
    }
  }

  pop(): Candidate | undefined {
    const a = this.entries;
    const top = a[0];
    const last = a.pop();
    if (a.length === 0 || last === undefined) return top;
    a[0] = last;
    for (let i = 0; ; ) {
      const l = 2 * i + 1;
      const r = l + 1;
      let min = i;
      if (l < a.length && (a[l] as Candidate).lastUsed < (a[min] as Candidate).lastUsed) min = l;
      if (r < a.length && (a[r] as Candidate).lastUsed < (a[min] as Candidate).lastUsed) min = r;
      if (min === i) break;
      [a[i], a[min]] = [a[min] as Candidate, a[i] as Candidate];
      i = min;
    }
    return top;
  }

  clear(): void {
    this.entries = [];
  }
}
