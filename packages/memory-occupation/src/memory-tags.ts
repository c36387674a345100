/** The device-memory tags an engine has, in the order they are released and resumed. */
export const DEFAULT_TAGS = ['weights', 'kv_cache', 'cuda_graph'] as const;

export type MemoryTag = (typeof DEFAULT_TAGS)[number];
