export type { KvDtype, KvPoolOptions, KvPoolShape } from './kv-pool.js';
export { KvPool } from './kv-pool.js';
export { KvPoolRegistry } from './kv-pool-registry.js';
export { PageAllocator } from './page-allocator.js';
