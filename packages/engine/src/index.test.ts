import { describe, expect, it } from 'vitest';
import * as engine from './index.js';

describe('@ts/engine re-exports', () => {
  it('offers the controllers through the meta-package', async () => {
    const pause = new engine.PauseController({
      runningRequests: () => 0,
      forwardInFlight: () => false,
    });
    const { InMemorySaver } = await import('@ts/memory-occupation/test');
    const memory = new engine.MemoryOccupationController(pause.claimMemoryGate(), {
      saver: new InMemorySaver({ weights: 8 }),
      prefixCache: { reset: () => {} },
      kvPools: { list: () => [] },
    });
    expect((await memory.release(['weights'])).success).toBe(true);
    expect(engine.DEFAULT_TAGS).toEqual(['weights', 'kv_cache', 'cuda_graph']);
  });
});
