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

  /**
   * Frees up to `wanted` pages held only by the cache, least recently used leaves first (a
   * parent becomes a candidate once its last child is gone). One walk of the tree, then a heap.
   */
  evict(wanted: number): number {
    if (wanted <= 0) return 0;
    const heap = new LeafHeap();
    const walk = (node: CacheNode) => {
      for (const child of node.children.values()) {
        if (child.children.size > 0) walk(child);
        else if (this.evictable(child)) heap.push(child);
      }
    };
    walk(this.root);
    let freed = 0;
    for (let leaf = heap.pop(); leaf && freed < wanted; leaf = heap.pop()) {
      this.remove(leaf);
      freed += 1;
      const parent = leaf.parent;
      if (parent && parent !== this.root && parent.children.size === 0 && this.evictable(parent))
        heap.push(parent);
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

  private evictable(node: CacheNode): boolean {
    return this.pages.references(node.page) === 1;
  }

  private remove(node: CacheNode): void {
    node.parent?.children.delete(node.key);
    this.nodes -= 1;
    this.pages.releaseCached([node.page]);
  }
}

/** Cache leaves by `lastUsed`, oldest on top (a binary heap). */
class LeafHeap {
  private readonly nodes: CacheNode[] = [];

  push(node: CacheNode): void {
    const a = this.nodes;
    a.push(node);
    for (let i = a.length - 1; i > 0; ) {
      const up = (i - 1) >> 1;
      if ((a[up] as CacheNode).lastUsed <= node.lastUsed) break;
      a[i] = a[up] as CacheNode;
      a[up] = node;
      i = up;
    }
  }

  pop(): CacheNode | undefined {
    const a = this.nodes;
    const top = a[0];
    const last = a.pop();
    if (a.length === 0 || last === undefined) return top;
    a[0] = last;
    for (let i = 0; ; ) {
      const l = 2 * i + 1;
      const r = l + 1;
      let min = i;
      if (l < a.length && (a[l] as CacheNode).lastUsed < (a[min] as CacheNode).lastUsed) min = l;
      if (r < a.length && (a[r] as CacheNode).lastUsed < (a[min] as CacheNode).lastUsed) min = r;
      if (min === i) break;
      [a[i], a[min]] = [a[min] as CacheNode, a[i] as CacheNode];
      i = min;
    }
    return top;
  }
}
