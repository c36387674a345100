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
  private nodes = 0;

  constructor(
    private readonly pages: PageAllocator,
    readonly pageSize: number,
  ) {}

  /** Pages the cache holds. */
  get size(): number {
    return this.nodes;
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
        this.nodes += 1;
      }
      child.lastUsed = tick;
      node = child;
    }
  }

  /** Frees up to `wanted` pages held only by the cache, least recently used leaves first. */
  evict(wanted: number): number {
    let freed = 0;
    while (freed < wanted) {
      const leaf = this.oldestEvictableLeaf();
      if (!leaf) break;
      this.remove(leaf);
      freed += 1;
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
    this.nodes = 0;
    this.pages.releaseCached(all);
  }

  private keyOf(tokens: readonly number[], start: number): string {
    return tokens.slice(start, start + this.pageSize).join(',');
  }

  private oldestEvictableLeaf(): CacheNode | null {
    let best: CacheNode | null = null;
    const walk = (node: CacheNode) => {
      for (const child of node.children.values()) {
        if (child.children.size > 0) walk(child);
        else if (
          this.pages.references(child.page) === 1 &&
          (!best || child.lastUsed < best.lastUsed)
        )
          best = child;
      }
    };
    walk(this.root);
    return best;
  }

  private remove(node: CacheNode): void {
    node.parent?.children.delete(node.key);
    this.nodes -= 1;
    this.pages.releaseCached([node.page]);
  }
}
