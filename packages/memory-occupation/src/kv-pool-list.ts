import type { KvPoolHandle, KvPoolRegistry } from './types.js';

/** The simplest `KvPoolRegistry`: pools registered by hand, listed in registration order. */
export class KvPoolList implements KvPoolRegistry {
  private readonly pools: KvPoolHandle[] = [];

  register(pool: KvPoolHandle): void {
    if (this.pools.some((p) => p.name === pool.name)) {
      throw new Error(`a KV pool named ${pool.name} is already registered`);
    }
    this.pools.push(pool);
  }

  list(): Iterable<KvPoolHandle> {
    return this.pools;
  }
}
