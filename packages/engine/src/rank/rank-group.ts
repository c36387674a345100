import type { KvPoolHandle, MemorySaver as OccupationSaver } from '@ts/memory-occupation';
import type { ForwardSequence } from '../model/forward-batch.js';
import type { ModelParallel } from '../model/tensor-parallel/model-parallel.js';
import type { ShardPlan } from '../model/tensor-parallel/shard-plan.js';

/**
 * The leader's view of the other ranks of its tensor-parallel group (TP ranks 1, 2, ...), which
 * have no scheduler: they run what the leader sends, in the order it sends it.
 */
export interface RankGroup {
  /** Gives the peers the leader's pool size and running limit; resolves once each has built its pool and runner. */
  start(layout: { numPages: number; maxRunning: number }): Promise<void>;
  /** The memory of the whole group as one saver (call after `start`). */
  saver(local: OccupationSaver): OccupationSaver;
  /** The peers' KV pools, for the repair after a kv_cache resume (spec rule 10). */
  pools(): KvPoolHandle[];
  /** Has every peer run this forward pass: called right before the leader runs its own share. */
  forward(sequences: readonly ForwardSequence[]): void;
}

/** A rank's place in tensor parallelism: its shard, its collectives, and on the leader the group. */
export interface RankParallel {
  plan: ShardPlan;
  model: ModelParallel;
  group: RankGroup;
}
