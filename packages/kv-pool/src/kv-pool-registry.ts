import type { KvPool } from './kv-pool.js';

/** Every KV pool of an engine (target and draft), so a repair walks them all (spec rule 10). */
export class KvPoolRegistry {
  private readonly pools = new Map<string, KvPool>();

  add(pool: KvPool): void {
    if (this.pools.has(pool.name))
      throw new Error(`a KV pool named ${pool.name} is already registered`);
    this.pools.set(pool.name, pool);
  }

  list(): KvPool[] {
    return [...this.pools.values()];
  }
}
