import { PauseController } from '@ts/pause';
import { InMemorySaver } from './in-memory-saver.js';
import { MemoryOccupationController } from './memory-occupation-controller.js';
import type { KvPoolHandle, PrefixCache } from './types.js';

/** A controller wired to a reference saver, two KV pools and a loop the test drives by hand. */
export function harness(options: { prefixCache?: PrefixCache | null; running?: number } = {}) {
  const loop = { running: options.running ?? 0, forward: false };
  const pause = new PauseController({
    runningRequests: () => loop.running,
    forwardInFlight: () => loop.forward,
  });
  const saver = new InMemorySaver({ weights: 64, kv_cache: 128, cuda_graph: 0 });
  saver.view('weights').set([1, 2, 3, 4]);
  const cleared: string[] = [];
  const kvPools: KvPoolHandle[] = ['target', 'draft'].map((name) => ({
    name,
    repair: () => {
      cleared.push(name);
    },
  }));
  const prefixCache = {
    resets: 0,
    reset: () => {
      prefixCache.resets += 1;
    },
  };
  const events: string[] = [];
  const memory = new MemoryOccupationController(pause.claimMemoryGate(), {
    saver,
    kvPools: { list: () => kvPools },
    prefixCache: options.prefixCache === undefined ? prefixCache : options.prefixCache,
    beforeKvRelease: () => {
      events.push('retract');
    },
  });
  return { loop, pause, saver, kvPools, cleared, prefixCache, events, memory };
}

export const flush = () => new Promise((resolve) => setImmediate(resolve));
