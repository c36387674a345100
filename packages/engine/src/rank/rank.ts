import { KvPool, KvPoolRegistry } from '@ts/kv-pool';
import { DEFAULT_TAGS } from '@ts/memory-occupation';
import { createOps, type MemorySaver } from '@ts/memory-saver-native';
import { type LoopEvent, PrefixCache, RankLoop, Scheduler } from '@ts/scheduler';
import type { OpenedCheckpoint } from '../model/loader/open-checkpoint.js';
import type { TensorDtype } from '../model/loader/tensor-source.js';
import { ModelRunner } from '../model/model-runner.js';
import {
  type LoadedWeights,
  type LoadProgress,
  loadWeights,
} from '../model/weights/load-weights.js';
import { RunnerExecutor } from './runner-executor.js';
import { derivedMaxRunning } from './running-limit.js';

export interface RankOptions {
  dtype: TensorDtype;
  pageSize: number;
  /** KV pages; when omitted, `kvMemoryFraction` of the free device memory after the weights. */
  numPages?: number;
  kvMemoryFraction?: number;
  /** Most requests running at once; when omitted, derived from the KV pool (`derivedMaxRunning`). */
  maxRunning?: number;
  maxBatchTokens: number;
  /** Extra logits rows per pass for input-token logprobs (0: none). */
  maxInputLogprobRows?: number;
  /** KV admission keeps for the running batch's growth (the scheduler's; default 1). */
  scheduleConservativeness?: number;
  /** Longest sequence (prompt + output) a request may reach. */
  maxContext: number;
  prefixCache: boolean;
  /** Decode steps as captured CUDA graphs where the device can capture (default true). */
  cudaGraphs?: boolean;
  onProgress?(progress: LoadProgress): void;
  /** Load weights holding NaN/Inf as they are (default false: the load fails, naming the tensor). */
  allowNonFiniteWeights?: boolean;
}

/** Everything one data-parallel rank owns, wired together. */
export interface Rank {
  loop: RankLoop;
  scheduler: Scheduler;
  kv: KvPool;
  kvPools: KvPoolRegistry;
  cache: PrefixCache | null;
  weights: LoadedWeights;
  runner: ModelRunner;
  /** The running-batch limit: the one given, or the one derived from the KV pool. */
  maxRunning: number;
  /** Starts the loop; resolves when it stops. */
  run(): Promise<void>;
}

/** Loads the model into `saver` (weights tag), sizes the KV pool (kv_cache tag), builds the loop. */
export async function createRank(
  saver: MemorySaver,
  checkpoint: OpenedCheckpoint,
  options: RankOptions,
  onEvent: (event: LoopEvent) => void,
): Promise<Rank> {
  const config = checkpoint.config;
  const weights = await loadWeights(saver, checkpoint.tensors, options.dtype, {
    onProgress: (progress) => options.onProgress?.(progress),
    allowNonFinite: options.allowNonFiniteWeights ?? false,
  });
  saver.setDeferredRestore(weights.allocation, true);
  const shape = {
    numLayers: config.numLayers,
    kvHeads: config.numKvHeads,
    headDim: config.headDim,
    pageSize: options.pageSize,
    dtype: options.dtype,
  };
  const numPages =
    options.numPages ??
    Math.floor(
      (saver.deviceMemory().free * (options.kvMemoryFraction ?? 0.5)) / KvPool.bytesPerPage(shape),
    );
  const kv = await KvPool.create(saver, { name: 'target', numPages, ...shape });
  const kvPools = new KvPoolRegistry();
  kvPools.add(kv);
  const maxPagesPerSeq = Math.ceil(options.maxContext / options.pageSize);
  const maxRunning =
    options.maxRunning ??
    derivedMaxRunning({ totalPages: numPages, maxBatchTokens: options.maxBatchTokens });
  const runner = await ModelRunner.create(saver, createOps(saver), config, weights, {
    maxTokens: options.maxBatchTokens,
    maxSeqs: maxRunning,
    maxLogitRows: maxRunning + (options.maxInputLogprobRows ?? 0),
    maxPagesPerSeq,
    workspaceTag: 'cuda_graph',
  });
  runner.graphsEnabled = options.cudaGraphs ?? true;
  const cache = options.prefixCache ? new PrefixCache(kv.pages, options.pageSize) : null;
  const scheduler = new Scheduler(kv.pages, cache, {
    pageSize: options.pageSize,
    maxRunning,
    maxBatchTokens: options.maxBatchTokens,
    maxSequenceLength: options.maxContext,
    maxInputLogprobRows: options.maxInputLogprobRows ?? 0,
    ...(options.scheduleConservativeness !== undefined
      ? { scheduleConservativeness: options.scheduleConservativeness }
      : {}),
    eosTokenIds: config.eosTokenIds,
  });
  const loop = new RankLoop({
    scheduler,
    executor: new RunnerExecutor(runner, kv, saver, weights, config.eosTokenIds),
    saver,
    kvPools,
    prefixCache: cache,
    // cuda_graph holds the workspace the steps (and so the captured graphs) read and write:
    // discarded on release, mapped again at the same addresses on resume.
    tags: DEFAULT_TAGS,
    onEvent,
  });
  return {
    loop,
    scheduler,
    kv,
    kvPools,
    cache,
    weights,
    runner,
    maxRunning,
    run: () => loop.run(),
  };
}
