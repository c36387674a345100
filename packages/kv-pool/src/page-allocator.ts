/**
 * Hands out KV pages by index. Pages are reference-counted so a prefix cache and several
 * requests can share one; a page returns to the free list when its last holder releases it.
 * Each change has a side-effect-free check beside it (`canAllocate` before `allocate`).
 */
export class PageAllocator {
  private readonly free: number[];
  private readonly refs: Uint32Array;
  /** 1 where a prefix cache holds one of the page's references (`retainCached`). */
  private readonly cached: Uint8Array;
  private cachedOnly = 0;
  private onCachedOnly: ((page: number) => void) | null = null;

  constructor(readonly totalPages: number) {
    if (!Number.isInteger(totalPages) || totalPages <= 0) {
      throw new RangeError(`totalPages must be a positive integer, got ${totalPages}`);
    }
    this.refs = new Uint32Array(totalPages);
    this.cached = new Uint8Array(totalPages);
    // Popped from the end, so page 0 is handed out first.
    this.free = Array.from({ length: totalPages }, (_, i) => totalPages - 1 - i);
  }

  get freePages(): number {
    return this.free.length;
  }

  get usedPages(): number {
    return this.totalPages - this.free.length;
  }

  canAllocate(count: number): boolean {
    return count <= this.free.length;
  }

  /** Takes `count` free pages, each with one reference. Requires `canAllocate(count)`. */
  allocate(count: number): number[] {
    if (!Number.isInteger(count) || count < 0) throw new RangeError(`bad page count ${count}`);
    if (!this.canAllocate(count)) {
      throw new Error(`out of KV pages: asked for ${count}, ${this.free.length} free`);
    }
    const pages = this.free.splice(this.free.length - count, count).reverse();
    for (const page of pages) this.refs[page] = 1;
    return pages;
  }

  /**
   * Pages whose one reference is a prefix cache's: what evicting the cache can free (a page a
   * running sequence holds, all its prefix's pages too, is not among them).
   */
  get cachedOnlyPages(): number {
    return this.cachedOnly;
  }

  /** Calls `listener` whenever a release leaves a cached page with the cache as its one holder. */
  watchCachedOnly(listener: (page: number) => void): void {
    this.onCachedOnly = listener;
  }

  /** Adds a reference to pages already held (a prefix-cache hit shares them). */
  retain(pages: readonly number[]): void {
    for (const page of pages) this.check(page);
    for (const page of pages) {
      if (this.cached[page] === 1 && this.refs[page] === 1) this.cachedOnly -= 1;
      this.refs[page] = (this.refs[page] ?? 0) + 1;
    }
  }

  /** Drops one reference from each page; pages with none left go back to the free list. */
  release(pages: readonly number[]): void {
    for (const page of pages) this.check(page);
    for (const page of pages) {
      const left = (this.refs[page] ?? 0) - 1;
      this.refs[page] = left;
      if (this.cached[page] === 1 && left === 1) {
        this.cachedOnly += 1;
        this.onCachedOnly?.(page);
      }
      if (left === 0) this.free.push(page);
    }
  }

  /** `retain` for a prefix cache's own reference, which `releaseCached` drops. */
  retainCached(pages: readonly number[]): void {
    for (const page of pages) {
      this.check(page);
      if (this.cached[page] === 1) throw new Error(`page ${page} is cached already`);
    }
    this.retain(pages);
    for (const page of pages) {
      this.cached[page] = 1;
      if (this.refs[page] === 1) this.cachedOnly += 1;
    }
  }

  /** Drops a prefix cache's reference (taken with `retainCached`) from each page. */
  releaseCached(pages: readonly number[]): void {
    for (const page of pages) {
      this.check(page);
      if (this.cached[page] !== 1) throw new Error(`page ${page} is not cached`);
    }
    for (const page of pages) {
      if (this.refs[page] === 1) this.cachedOnly -= 1;
      this.cached[page] = 0;
    }
    this.release(pages);
  }

  references(page: number): number {
    return this.refs[page] ?? 0;
  }

  private check(page: number): void {
    if (!Number.isInteger(page) || page < 0 || page >= this.totalPages) {
      throw new RangeError(`page ${page} is out of range [0, ${this.totalPages})`);
    }
    if (this.refs[page] === 0) throw new Error(`page ${page} is not allocated`);
  }
}
