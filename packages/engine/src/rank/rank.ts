import { KvPool, KvPoolRegistry } from '@ts/kv-pool';
import { DEFAULT_TAGS } from '@ts/memory-occupation';
import type { MemorySaver } from '@ts/memory-saver-native';
import { type LoopEvent, PrefixCache, RankLoop, Scheduler } from '@ts/scheduler';
import type { OpenedCheckpoint } from '../model/loader/open-checkpoint.js';
import type { TensorDtype, TensorSource } from '../model/loader/tensor-source.js';
import type { ModelRunner } from '../model/model-runner.js';
import { shardSources } from '../model/tensor-parallel/shard-sources.js';
import type { LoadedWeights, LoadProgress } from '../model/weights/load-weights.js';
import type { WeightChecks } from '../model/weights/non-finite-check.js';
import type { RankParallel } from './rank-group.js';
import { createRankRunner, loadRankWeights, rankKvShape } from './rank-model.js';
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
  /** Batch-invariant kernels: a request's bits independent of its batch (spec rule 14). */
  deterministic?: boolean;
  /** Decode steps as captured CUDA graphs where the device can capture (default true). */
  cudaGraphs?: boolean;
  /** Launch each pass before collecting the one before (default true). */
  overlapSchedule?: boolean;
  onProgress?(progress: LoadProgress): void;
  /** Load weights holding NaN/Inf as they are (default false: the load fails, naming the tensor). */
  allowNonFiniteWeights?: boolean;
  /** Tensor parallel: this rank leads its group (TP rank 0), holding its shard of the model. */
  parallel?: RankParallel;
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
  /** This rank's share of whole tensors (checked against the model): its shard under TP, else all. */
  share(sources: readonly TensorSource[], checks: WeightChecks): readonly TensorSource[];
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
  const parallel = options.parallel ?? null;
  const plan = parallel?.plan ?? null;
  const weights = await loadRankWeights(saver, checkpoint, options.dtype, plan, {
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    allowNonFinite: options.allowNonFiniteWeights ?? false,
  });
  const shape = rankKvShape(config, plan, options.pageSize, options.dtype);
  const numPages =
    options.numPages ??
    Math.floor(
      (saver.deviceMemory().free * (options.kvMemoryFraction ?? 0.5)) / KvPool.bytesPerPage(shape),
    );
  const kv = await KvPool.create(saver, { name: 'target', numPages, ...shape });
  const kvPools = new KvPoolRegistry();
  kvPools.add(kv);
  const maxRunning =
    options.maxRunning ??
    derivedMaxRunning({ totalPages: numPages, maxBatchTokens: options.maxBatchTokens });
  const runner = await createRankRunner(
    saver,
    config,
    weights,
    { ...options, maxRunning, maxInputLogprobRows: options.maxInputLogprobRows ?? 0 },
    parallel?.model ?? null,
  );
  runner.graphsEnabled = options.cudaGraphs ?? true;
  const group = parallel?.group ?? null;
  await group?.start({ numPages, maxRunning });
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
    executor: new RunnerExecutor(
      runner,
      kv,
      saver,
      weights,
      config.eosTokenIds,
      group,
      options.overlapSchedule ?? true,
    ),
    saver: group ? group.saver(saver) : saver,
    kvPools: { list: () => [...kvPools.list(), ...(group?.pools() ?? [])] },
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
    share: (sources, checks) => (plan ? shardSources(plan, sources, checks) : sources),
    run: () => loop.run(),
  };
}
