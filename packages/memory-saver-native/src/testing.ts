import { type MemorySaver, nativeOf } from './memory-saver.js';

/**
 * Test switch for the failure path of `resume`: the physical-map call after `successes`
 * more successful ones fails, as an out-of-memory would. Not for production code.
 */
export function failMapAfter(saver: MemorySaver, successes: number): void {
  nativeOf(saver).failMapAfter(successes);
}
