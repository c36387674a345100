import { availableParallelism } from 'node:os';

/**
 * Sizes libuv's thread pool for checkpoint reads, which keep one piece in flight per thread.
 * libuv reads UV_THREADPOOL_SIZE once, at the pool's first use, so call this first thing (the
 * CLI and the benchmarks do). A user's UV_THREADPOOL_SIZE wins.
 */
export function sizeIoThreads(): void {
  process.env.UV_THREADPOOL_SIZE ??= String(Math.min(16, Math.max(4, availableParallelism())));
}
