import type { KvPoolShape } from '@ts/kv-pool';
import { createOps, type MemorySaver } from '@ts/memory-saver-native';
import type { ModelConfig } from '../model/loader/model-config.js';
import type { OpenedCheckpoint } from '../model/loader/open-checkpoint.js';
import type { TensorDtype } from '../model/loader/tensor-source.js';
import { ModelRunner } from '../model/model-runner.js';
import type { ModelParallel } from '../model/tensor-parallel/model-parallel.js';
import type { ShardPlan } from '../model/tensor-parallel/shard-plan.js';
import { shardSources } from '../model/tensor-parallel/shard-sources.js';
import {
  type LoadedWeights,
  type LoadProgress,
  loadWeights,
} from '../model/weights/load-weights.js';

// The parts of a rank's model that every rank builds alike, the leader of a tensor-parallel
// group (with the scheduler) and its peers (without): weights, the KV pool's shape, the runner.

/**
 * Loads the rank's weights (its shard under `plan`, all of them without) into the `weights`
 * tag; their restore after a resume is deferred to the first step.
 */
export async function loadRankWeights(
  saver: MemorySaver,
  checkpoint: OpenedCheckpoint,
  dtype: TensorDtype,
  plan: ShardPlan | null,
  options: { onProgress?(progress: LoadProgress): void; allowNonFinite: boolean },
): Promise<LoadedWeights> {
  const checks = { allowNonFinite: options.allowNonFinite };
  const sources = plan ? shardSources(plan, checkpoint.tensors, checks) : checkpoint.tensors;
  const weights = await loadWeights(saver, sources, dtype, {
    onProgress: (progress) => options.onProgress?.(progress),
    ...checks,
  });
  saver.setDeferredRestore(weights.allocation, true);
  return weights;
}

/** The KV pool of a rank: the rank's own KV heads. */
export function rankKvShape(
  config: ModelConfig,
  plan: ShardPlan | null,
  pageSize: number,
  dtype: TensorDtype,
): KvPoolShape {
  return {
    numLayers: config.numLayers,
    kvHeads: plan?.dims.numKvHeads ?? config.numKvHeads,
    headDim: config.headDim,
    pageSize,
    dtype,
  };
}

export interface RunnerSizes {
  maxBatchTokens: number;
  maxRunning: number;
  maxInputLogprobRows: number;
  maxContext: number;
  pageSize: number;
  /** The deterministic switch: the runner's kernels batch-invariant (spec rule 14). */
  deterministic?: boolean;
}

/** The rank's runner; its workspace in `cuda_graph` (discarded on release, mapped on resume). */
export function createRankRunner(
  saver: MemorySaver,
  config: ModelConfig,
  weights: LoadedWeights,
  sizes: RunnerSizes,
  parallel: ModelParallel | null,
): Promise<ModelRunner> {
  const limits = {
    maxTokens: sizes.maxBatchTokens,
    maxSeqs: sizes.maxRunning,
    maxLogitRows: sizes.maxRunning + sizes.maxInputLogprobRows,
    maxPagesPerSeq: Math.ceil(sizes.maxContext / sizes.pageSize),
    workspaceTag: 'cuda_graph',
  };
  return ModelRunner.create(saver, createOps(saver), config, weights, limits, {
    parallel,
    batchInvariant: sizes.deterministic ?? false,
  });
}
