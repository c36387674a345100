import { PageAllocator } from '@ts/kv-pool';
import { describe, expect, it } from 'vitest';
import { PrefixCache } from './prefix-cache.js';

const PAGE = 2;

/** Caches `tokens` as a finished sequence would: its pages, then its own references dropped. */
function cacheSequence(pages: PageAllocator, cache: PrefixCache, tokens: number[]): number[] {
  const held = cache.match(tokens);
  const table = [...held, ...pages.allocate(tokens.length / PAGE - held.length)];
  cache.insert(tokens, table);
  pages.release(table);
  return table;
}

describe('PrefixCache.evict', () => {
  it('frees least recently used leaves first, a parent once its children are gone', () => {
    const pages = new PageAllocator(16);
    const cache = new PrefixCache(pages, PAGE);
    const a = cacheSequence(pages, cache, [1, 1, 2, 2, 3, 3]);
    const b = cacheSequence(pages, cache, [1, 1, 2, 2, 4, 4]);
    const [c] = cacheSequence(pages, cache, [5, 5]);
    pages.release(cache.match([5, 5]));
    expect(a.slice(0, 2)).toEqual(b.slice(0, 2));
    expect(cache.size).toBe(5);
    const order: number[] = [];
    while (cache.evict(1) === 1) {
      const all = [...new Set([...a, ...b, c as number])];
      order.push(...all.filter((p) => pages.references(p) === 0 && !order.includes(p)));
    }
    // a's leaf (oldest), b's leaf, then their shared prefix from the end, then c (touched last).
    expect(order).toEqual([a[2], b[2], a[1], a[0], c]);
    expect(cache.size).toBe(0);
    expect(pages.freePages).toBe(16);
  });

  it('never frees a page a sequence holds, nor the pages of its prefix', () => {
    const pages = new PageAllocator(16);
    const cache = new PrefixCache(pages, PAGE);
    cacheSequence(pages, cache, [1, 1, 2, 2, 3, 3]);
    cacheSequence(pages, cache, [7, 7, 8, 8]);
    const running = cache.match([1, 1, 2, 2]);
    expect(cache.evict(10)).toBe(3);
    expect(cache.size).toBe(2);
    expect(cache.match([1, 1, 2, 2])).toEqual(running);
    expect(pages.cachedOnlyPages).toBe(0);
  });

  it('evicts a deep chain in one call, as many pages as asked and no more', () => {
    const pages = new PageAllocator(4096);
    const cache = new PrefixCache(pages, PAGE);
    const tokens = Array.from({ length: 2 * 2000 }, (_, i) => i % 97);
    cacheSequence(pages, cache, tokens);
    expect(cache.evict(1500)).toBe(1500);
    expect(cache.match(tokens)).toHaveLength(500);
  });
});

describe('PrefixCache: candidates for eviction', () => {
  it('stay bounded while nothing is evicted, and still evict least recently used first', () => {
    const pages = new PageAllocator(64);
    const cache = new PrefixCache(pages, PAGE);
    const tables = Array.from({ length: 8 }, (_, s) => cacheSequence(pages, cache, [s, s, 9, 9]));
    // Thousands of hits and releases of the same pages: every release offers a candidate.
    for (let round = 0; round < 2000; round++)
      pages.release(cache.match([round % 8, round % 8, 9, 9]));
    const heap = (cache as unknown as { candidates: { size: number } }).candidates;
    expect(heap.size).toBeLessThanOrEqual(2 * cache.size + 1024);
    // The last rounds touched 0..7 in order: 0's leaf is the oldest (round 1992), 7's the newest.
    expect(cache.evict(1)).toBe(1);
    expect(pages.references(tables[0]?.[1] as number)).toBe(0);
    expect(pages.references(tables[7]?.[1] as number)).toBe(1);
  });
});
