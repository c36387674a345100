import { createRequire } from 'node:module';

import type {
  AddLogitBiasArgs,
  AddRmsNormArgs,
  AttentionArgs,
  EmbeddingArgs,
  GemmArgs,
  RmsNormArgs,
  RotaryArgs,
  SampleArgs,
  SiluAndMulArgs,
  StoreKvArgs,
  TokenLogprobsArgs,
  TopLogprobsArgs,
} from './kernel-args.js';
import type { AttentionBatch, DType, RotaryLayout } from './ops-types.js';
import type { IpcCopyReport } from './types.js';

/**
 * A kernel's arguments as the addon takes them: every field present, dtypes and
 * layouts as their codes (`dtypeCode`, `layoutCode`).
 */
export type NativeArgs<T> = {
  [K in keyof T]-?: T[K] extends DType | undefined
    ? number
    : T[K] extends RotaryLayout | undefined
      ? number
      : T[K] extends AttentionBatch | undefined
        ? Required<AttentionBatch>
        : Exclude<T[K], undefined>;
};

/** The whole native surface, as `native/src/addon.cc` defines it. */
export interface NativeTransferReport {
  physicalBytes: number;
  copiedBytes: number;
  copyMs: number;
  mapMs: number;
}

export interface NativeTagStats {
  tag: string;
  paused: boolean;
  allocations: number;
  reservedBytes: number;
  residentBytes: number;
  backupBytes: number;
}

export interface NativeMemorySaver {
  readonly deviceName: string;
  readonly mapsZeroed: boolean;
  /** mode: 0 no backup, 1 copied on every pause, 2 tracked (copied only when changed). */
  allocate(bytes: number, tag: string, mode: 0 | 1 | 2): Promise<{ id: number; address: bigint }>;
  free(id: number): Promise<void>;
  /** An empty tag means every tag in the needed state. */
  pause(tag: string): Promise<NativeTransferReport>;
  resume(tag: string): Promise<NativeTransferReport>;
  copyFromHost(id: number, offset: number, bytes: Uint8Array): Promise<void>;
  copyToHost(id: number, offset: number, bytes: Uint8Array): Promise<void>;
  fill(id: number, offset: number, bytes: number, value: number): Promise<void>;
  checksum(id: number, offset: number, bytes: number): Promise<bigint>;
  markDirty(id: number): void;
  setDeferredRestore(id: number, deferred: boolean): void;
  restorePending(id: number): boolean;
  setZeroOnResume(id: number, zero: boolean): void;
  restore(id: number): Promise<boolean>;
  residentBytes(id: number): number;
  openBackup(id: number): ArrayBuffer;
  closeBackup(id: number, view: ArrayBuffer, upload: boolean): Promise<void>;
  /** pieces[i] into the backup at offsets[i]; all checked first, copied under one lock. */
  writeBackup(id: number, offsets: number[], pieces: Uint8Array[]): Promise<void>;
  readIpc(
    handle: Uint8Array,
    event: Uint8Array | null,
    offsets: number[],
    into: Uint8Array[],
  ): Promise<void>;
  copyIpc(
    id: number,
    sources: { handle: Uint8Array; events: Uint8Array[] }[],
    pieces: {
      source: number;
      from: number;
      to: number;
      elements: number;
      fromType: number;
      toType: number;
    }[],
    refuseNonFinite: boolean,
  ): Promise<IpcCopyReport>;
  synchronize(): Promise<void>;
  stats(): NativeTagStats[];
  memoryInfo(): { free: number; total: number };
  failMapAfter(successes: number): void;
}

export interface RawCopyTimes {
  /** cudaMallocHost of the whole size. */
  pinMs: number;
  d2hMs: number[];
  h2dMs: number[];
  /** Host-to-device from the same pinned memory in 256 MiB pieces. */
  h2dPiecesMs: number;
  /** mmap'd memory pinned with one cudaHostRegister, and copies from and to it in pieces. */
  registerMs: number;
  h2dRegisteredMs: number;
  d2hRegisteredMs: number;
}

/**
 * The model kernels (`native/src/ops_addon.cc`), synchronous, addresses and sizes as numbers,
 * dtype 0 float32 | 1 bfloat16 | 2 float16, layout 0 half-split | 1 adjacent. A kernel with an
 * argument struct (kernels.h) takes one object of its fields (`NativeArgs`).
 */
export interface NativeOps {
  embedding(
    args: NativeArgs<Omit<EmbeddingArgs, 'vocabShard'>> & { vocabStart: number; vocabRows: number },
  ): void;
  rmsNorm(args: NativeArgs<RmsNormArgs>): void;
  addRmsNorm(args: NativeArgs<AddRmsNormArgs>): void;
  add(out: number, a: number, b: number, n: number, dtype: number): void;
  rotary(args: NativeArgs<RotaryArgs>): void;
  storeKv(args: NativeArgs<StoreKvArgs>): void;
  rotaryStoreKv(args: { rotary: NativeArgs<RotaryArgs>; store: NativeArgs<StoreKvArgs> }): void;
  attention(args: NativeArgs<AttentionArgs>): void;
  siluAndMul(args: NativeArgs<SiluAndMulArgs>): void;
  gemm(args: NativeArgs<GemmArgs>): void;
  convert(out: number, outType: number, input: number, inType: number, n: number): void;
  sample(args: NativeArgs<SampleArgs>): void;
  tokenLogprobs(args: NativeArgs<TokenLogprobsArgs>): void;
  addLogitBias(args: NativeArgs<AddLogitBiasArgs>): void;
  topLogprobs(args: NativeArgs<TopLogprobsArgs>): void;
  upload(address: number, bytes: Uint8Array): void;
  download(address: number, bytes: Uint8Array): void;
  synchronize(): void;
  queueDownload(address: number, bytes: number): number;
  takeDownload(ticket: number, bytes: Uint8Array): void;
  canCapture(): boolean;
  beginCapture(): void;
  endCapture(): number;
  replay(graph: number): boolean;
  dropGraphs(): void;
  scratchBytes(maxTokens: number, group: number): number;
  useScratch(address: number, bytes: number): void;
}

/**
 * One rank of a CPU communicator group (`native/src/comm_addon.cc`): synchronous collectives
 * on host addresses, dtype 0 float32 | 1 bfloat16 | 2 float16.
 */
export interface NativeCommunicator {
  allReduceSum(address: number, count: number, dtype: number): void;
  allGather(input: number, count: number, dtype: number, out: number, rows: number): void;
  close(): void;
}

export interface NativeAddon {
  NativeMemorySaver: new (
    device: 'cpu' | 'cuda',
    deviceIndex: number,
    chunkBytes: number,
    keepBackups: boolean,
  ) => NativeMemorySaver;
  NativeOps: new (saver: NativeMemorySaver) => NativeOps;
  NativeCommunicator: new (
    saver: NativeMemorySaver,
    groupId: string,
    worldSize: number,
    rank: number,
    timeoutMs: number,
  ) => NativeCommunicator;
  cudaCompiledIn: boolean;
  /** GPUs the CUDA runtime sees (0 without CUDA). */
  cudaDeviceCount(): number;
  /**
   * NaN/±Inf values among `bytes` read as dtype 0 float32 | 1 bfloat16 | 2 float16 (whole
   * values only), scanned off the event loop; `first` is an element index, -1 when none.
   */
  countNonFinite(bytes: ArrayBufferView, dtype: number): Promise<{ count: number; first: number }>;
  /** Plain cudaMallocHost + cudaMemcpy of `bytes`, the benchmark's yardstick (CUDA builds only). */
  rawCopyBench(deviceIndex: number, bytes: number, repeats: number): RawCopyTimes;
}

let addon: NativeAddon | undefined;

/** Loads the addon built by cmake-js (build/Release, beside dist/). */
export function loadAddon(): NativeAddon {
  if (!addon) {
    const require = createRequire(import.meta.url);
    addon = require('../build/Release/ts_memory_saver.node') as NativeAddon;
  }
  return addon;
}
