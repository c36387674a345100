import { expectedLlamaTensors } from '../loader/llama-weights.js';
import type { ModelConfig } from '../loader/model-config.js';
import type { TensorInfo } from '../loader/tensor-source.js';

/**
 * How a Hugging Face tensor is cut across tensor-parallel ranks:
 * - `replicated`: every rank holds all of it (norms).
 * - `rows`: dim 0 is split in equal blocks, rank r holding block r: the output features of a
 *   column-parallel linear (q/k/v by heads, gate/up by intermediate) and the vocabulary rows of
 *   the embedding and lm_head. A 1-D tensor (a q/k/v bias) is split the same way.
 * - `columns`: dim 1 is split: the input features of a row-parallel linear (o, down), whose
 *   partial outputs the ranks then sum with an all-reduce.
 * - `first-rank`: rank 0 holds all of it, the others nothing: the bias of a row-parallel
 *   linear, added once by rank 0 before the sum.
 */
export type ShardSplit = 'replicated' | 'rows' | 'columns' | 'first-rank';

/** One rank's part of one tensor: `[start, start + length)` along the split dim. */
export interface TensorShard {
  readonly name: string;
  readonly split: ShardSplit;
  readonly fullShape: readonly number[];
  /** The rank's shape; `[]` when the rank holds none of it (`first-rank`, ranks > 0). */
  readonly shape: readonly number[];
  readonly start: number;
  readonly length: number;
}

/** What one rank's model looks like: its heads, intermediate size and vocabulary rows. */
export interface RankDims {
  readonly numHeads: number;
  readonly numKvHeads: number;
  readonly intermediateSize: number;
  /** Rows of the vocabulary this rank embeds and scores: `[vocabStart, vocabStart + vocabSize)`. */
  readonly vocabStart: number;
  readonly vocabSize: number;
}

export interface ShardPlan {
  readonly tpSize: number;
  readonly rank: number;
  readonly dims: RankDims;
  /** Every tensor the model needs, in `expectedLlamaTensors` order. */
  readonly shards: readonly TensorShard[];
}

/** A model that cannot be split `tpSize` ways; the message names every count that does not divide. */
export class TensorParallelError extends Error {
  override readonly name = 'TensorParallelError';
}

/**
 * Throws a `TensorParallelError` unless attention heads, KV heads, the intermediate size and
 * the vocabulary all divide by `tpSize` (a positive integer).
 */
export function checkTensorParallel(config: ModelConfig, tpSize: number): void {
  if (!Number.isSafeInteger(tpSize) || tpSize < 1) {
    throw new TensorParallelError(`tp size must be a positive integer, got ${tpSize}`);
  }
  const counts: [string, number][] = [
    ['attention heads', config.numHeads],
    ['key/value heads', config.numKvHeads],
    ['intermediate size', config.intermediateSize],
    ['vocabulary size', config.vocabSize],
  ];
  const problems = counts
    .filter(([, count]) => count % tpSize !== 0)
    .map(([what, count]) => `${what} ${count}`);
  if (problems.length > 0) {
    throw new TensorParallelError(
      `cannot split this model across ${tpSize} tensor-parallel ranks: ${problems.join(', ')} ` +
        `${problems.length === 1 ? 'does' : 'do'} not divide by ${tpSize}`,
    );
  }
}

/** The split of each tensor by its name's last parts; biases follow their weights. */
function splitOf(name: string): ShardSplit {
  if (/\.(q|k|v)_proj\.(weight|bias)$/.test(name)) return 'rows';
  if (/\.mlp\.(gate|up)_proj\.weight$/.test(name)) return 'rows';
  if (/\.(o_proj|down_proj)\.weight$/.test(name)) return 'columns';
  if (/\.(o_proj|down_proj)\.bias$/.test(name)) return 'first-rank';
  if (name === 'model.embed_tokens.weight' || name === 'lm_head.weight') return 'rows';
  return 'replicated';
}

function shardOf(tensor: TensorInfo, split: ShardSplit, tpSize: number, rank: number): TensorShard {
  const full = tensor.shape;
  const base = { name: tensor.name, split, fullShape: [...full] };
  const dim = split === 'columns' ? 1 : 0;
  const size = full[dim] ?? 0;
  if (split === 'replicated') return { ...base, shape: [...full], start: 0, length: size };
  if (split === 'first-rank') {
    return rank === 0
      ? { ...base, shape: [...full], start: 0, length: size }
      : { ...base, shape: [], start: 0, length: 0 };
  }
  const length = size / tpSize;
  const shape = [...full];
  shape[dim] = length;
  return { ...base, shape, start: rank * length, length };
}

/**
 * Rank `rank`'s part of every tensor of a Llama-family model at `tpSize` ranks. Throws a
 * `TensorParallelError` when the model does not split evenly (see `checkTensorParallel`) or
 * the rank is outside `[0, tpSize)`.
 */
export function planLlamaShards(config: ModelConfig, tpSize: number, rank: number): ShardPlan {
  checkTensorParallel(config, tpSize);
  if (!Number.isSafeInteger(rank) || rank < 0 || rank >= tpSize) {
    throw new TensorParallelError(`rank must be in [0, ${tpSize}), got ${rank}`);
  }
  const vocabSize = config.vocabSize / tpSize;
  const dims: RankDims = {
    numHeads: config.numHeads / tpSize,
    numKvHeads: config.numKvHeads / tpSize,
    intermediateSize: config.intermediateSize / tpSize,
    vocabStart: rank * vocabSize,
    vocabSize,
  };
  const shards = expectedLlamaTensors(config).required.map((tensor) =>
    shardOf(tensor, splitOf(tensor.name), tpSize, rank),
  );
  return { tpSize, rank, dims, shards };
}

/** The tensors this rank stores, with its shapes (for `layOutWeights`); absent ones left out. */
export function rankTensors(plan: ShardPlan): TensorInfo[] {
  return plan.shards
    .filter((shard) => shard.shape.length > 0)
    .map((shard) => ({ name: shard.name, shape: shard.shape }));
}
