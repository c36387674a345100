import type { RankSum } from './decoder-layer.js';
import type { RankGather } from './parallel-logits.js';
import type { RankDims } from './shard-plan.js';

/**
 * What a tensor-parallel rank's model needs beyond its shard of the weights: its share of the
 * heads, intermediate size and vocabulary, and the collectives that join the ranks (a
 * `Communicator`). Every rank of a group must run the same forward passes in the same order:
 * each collective waits for all of them.
 */
export interface ModelParallel {
  readonly tpSize: number;
  readonly dims: RankDims;
  readonly comm: RankSum & RankGather;
}
