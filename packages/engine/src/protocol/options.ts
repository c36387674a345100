// The engine's options, as the main thread resolves them and each rank's worker receives them.
import type { DtypeChoice } from '../model/serving-dtype.js';
import type { Switches } from './switches.js';

export type DeviceChoice = 'auto' | 'cuda' | 'cpu';

/** Launch options; the on/off ones (`Switches`) are declared in switches.ts. */
export interface LaunchOptions extends Partial<Switches> {
  /** A Hugging Face model directory, a llama2.c `.bin`, or `builtin:tiny`. */
  model: string;
  device?: DeviceChoice;
  /** Data-parallel ranks, one worker each (`tpSize` workers each under tensor parallelism). */
  dpSize?: number;
  /**
   * Tensor-parallel ranks per data-parallel rank (default 1): each loads its shard of the
   * model (its heads, intermediate columns and vocabulary rows) and its own KV pool, joined by
   * all-reduce and all-gather. The CPU backend only, for now: on CUDA it needs NCCL.
   */
  tpSize?: number;
  /** GPU of rank r: `gpuIds[r]`; by default GPU r mod the number of GPUs (several ranks share one when fewer). */
  gpuIds?: number[];
  /** The compute dtype; `auto` (default): the checkpoint's on a GPU (bfloat16 for float32), float32 on the CPU. */
  dtype?: DtypeChoice;
  pageSize?: number;
  /** Fraction of the device memory left after the weights that the KV cache takes. */
  kvMemoryFraction?: number;
  /** KV pages per rank; overrides kvMemoryFraction. */
  numPages?: number;
  /**
   * Most requests a rank runs at once. When omitted, each rank derives it from its KV pool
   * (`derivedMaxRunning`: the sequences the pool holds at half the context each, at most 256).
   */
  maxRunning?: number;
  /**
   * Most tokens one forward pass computes, prefill chunks and decodes together (default 2048:
   * a long prompt is prefilled in chunks, so a pass that carries one stays short for the
   * sequences decoding beside it).
   */
  maxBatchTokens?: number;
  /**
   * Extra logits rows one forward pass may compute for input-token logprobs (default 128; 0
   * turns them off). Each row costs vocab x (dtype + 4) bytes of workspace.
   */
  maxInputLogprobRows?: number;
  /**
   * How much KV admission keeps for the growth of the running requests (SGLang's
   * `--schedule-conservativeness`, default 1): above 1 admits fewer and retracts less, 0 keeps
   * nothing (admit while prompts fit, retract when KV runs out).
   */
  scheduleConservativeness?: number;
  maxContext?: number;
  /** Load progress, per rank. */
  onProgress?(rank: number, loadedBytes: number, totalBytes: number): void;
  /** For tests: failures injected into the real memory saver of one rank. */
  testFaults?: TestFaults;
}

/**
 * Failures a test injects into one rank (named by its data-parallel and tensor-parallel rank).
 * `failMapAfter`: its saver's physical-map call after `successes` more successful ones fails
 * once, as an out-of-memory would (`@ts/memory-saver-native/testing`), counted from when the
 * rank is ready. `exitAfterSteps`: a TP peer's worker exits, as a crash would, once it has run
 * `steps` forward passes (0: as soon as it has built its pool and runner).
 */
export interface TestFaults {
  failMapAfter?: { dpRank: number; tpRank: number; successes: number };
  exitAfterSteps?: { dpRank: number; tpRank: number; steps: number };
}

export type ResolvedOptions = Required<
  Omit<LaunchOptions, 'onProgress' | 'numPages' | 'gpuIds' | 'maxRunning' | 'testFaults'>
> & {
  testFaults: TestFaults;
  numPages: number | null;
  /** null: each rank derives its own from its KV pool. */
  maxRunning: number | null;
  gpuIds: number[];
};
