import { describe, expect, it } from 'vitest';
import { PageAllocator } from './page-allocator.js';

describe('PageAllocator', () => {
  it('allocates in order and frees back', () => {
    const pages = new PageAllocator(4);
    expect(pages.allocate(2)).toEqual([0, 1]);
    expect(pages.freePages).toBe(2);
    expect(pages.usedPages).toBe(2);
    pages.release([0]);
    expect(pages.freePages).toBe(3);
    expect(pages.allocate(0)).toEqual([]);
  });

  it('pairs a check with the change and refuses what it cannot give', () => {
    const pages = new PageAllocator(2);
    expect(pages.canAllocate(3)).toBe(false);
    expect(() => pages.allocate(3)).toThrow(/out of KV pages: asked for 3, 2 free/);
    expect(pages.freePages).toBe(2);
    expect(() => pages.allocate(-1)).toThrow(RangeError);
  });

  it('shares pages by reference count and frees on the last release', () => {
    const pages = new PageAllocator(2);
    const [page] = pages.allocate(1) as [number];
    pages.retain([page]);
    expect(pages.references(page)).toBe(2);
    pages.release([page]);
    expect(pages.freePages).toBe(1);
    pages.release([page]);
    expect(pages.freePages).toBe(2);
  });

  it('rejects double frees, foreign pages and bad sizes without changing anything', () => {
    const pages = new PageAllocator(3);
    const held = pages.allocate(1);
    expect(() => pages.release([...held, 2])).toThrow(/page 2 is not allocated/);
    expect(pages.references(0)).toBe(1);
    expect(() => pages.retain([7])).toThrow(/out of range/);
    expect(() => new PageAllocator(0)).toThrow(RangeError);
  });
});

describe('PageAllocator: pages only a prefix cache holds', () => {
  it('counts a cached page while the cache is its one holder, through every change', () => {
    const pages = new PageAllocator(8);
    const [a, b] = pages.allocate(2) as [number, number];
    pages.retainCached([a, b]);
    expect(pages.cachedOnlyPages).toBe(0);
    pages.release([a]);
    expect(pages.cachedOnlyPages).toBe(1);
    pages.retain([a]);
    expect(pages.cachedOnlyPages).toBe(0);
    pages.release([a, b]);
    expect(pages.cachedOnlyPages).toBe(2);
    pages.releaseCached([a]);
    expect(pages.cachedOnlyPages).toBe(1);
    expect(pages.freePages).toBe(7);
    pages.retain([b]);
    pages.releaseCached([b]);
    expect(pages.cachedOnlyPages).toBe(0);
    pages.release([b]);
    expect(pages.freePages).toBe(8);
  });

  it('refuses to cache a page twice or to drop a cache reference it never took', () => {
    const pages = new PageAllocator(4);
    const [a] = pages.allocate(1) as [number];
    pages.retainCached([a]);
    expect(() => pages.retainCached([a])).toThrow(`page ${a} is cached already`);
    const [b] = pages.allocate(1) as [number];
    expect(() => pages.releaseCached([b])).toThrow(`page ${b} is not cached`);
    expect(pages.cachedOnlyPages).toBe(0);
  });
});
