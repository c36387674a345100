import type { AttentionBatch, DeviceAddress, DType, RotaryLayout } from './ops-types.js';

/**
 * One argument object per kernel (`Ops.rotary(args: RotaryArgs)`, ...), mirrored field for
 * field by one C++ struct in `native/src/kernels/kernels.h` (`RotaryArgs`, ...). What each
 * kernel computes is on its `Ops` method.
 */

export interface EmbeddingArgs {
  out: DeviceAddress;
  table: DeviceAddress;
  /** int32 [tokens] */
  ids: DeviceAddress;
  tokens: number;
  dim: number;
  dtype: DType;
  /**
   * A vocabulary shard (tensor parallel, CPU only): `table` holds rows
   * `[vocabStart, vocabStart + vocabRows)` and ids outside them give rows of zeros.
   * Omitted: the table is the whole vocabulary.
   */
  vocabShard?: { vocabStart: number; vocabRows: number };
}

export interface RmsNormArgs {
  out: DeviceAddress;
  x: DeviceAddress;
  weight: DeviceAddress;
  rows: number;
  dim: number;
  /** Rows come this many at a time (default `rows`: contiguous)... */
  rowsPerGroup?: number;
  /** ...groups this many elements apart (default `rows * dim`). */
  groupStride?: number;
  eps: number;
  dtype: DType;
}

export interface AddRmsNormArgs {
  out: DeviceAddress;
  residual: DeviceAddress;
  delta: DeviceAddress;
  weight: DeviceAddress;
  rows: number;
  dim: number;
  eps: number;
  dtype: DType;
}

export interface RotaryArgs {
  q: DeviceAddress;
  k: DeviceAddress;
  /** int32 [tokens] */
  positions: DeviceAddress;
  tokens: number;
  qHeads: number;
  kvHeads: number;
  headDim: number;
  rotaryDim: number;
  qStride: number;
  kStride: number;
  /** float32 [rotaryDim / 2] */
  invFreq: DeviceAddress;
  layout: RotaryLayout;
  dtype: DType;
}

export interface StoreKvArgs {
  kCache: DeviceAddress;
  vCache: DeviceAddress;
  k: DeviceAddress;
  v: DeviceAddress;
  /** int32 [tokens]; a negative slot skips its token */
  slots: DeviceAddress;
  tokens: number;
  kvHeads: number;
  headDim: number;
  kStride: number;
  vStride: number;
  /** Slots a page: a cache is pages of [kvHeads][pageSize][headDim] (`native/src/kernels/kv_layout.h`). */
  pageSize: number;
  dtype: DType;
}

/** A decoder layer's rotary, then its KV store (`Ops.rotaryStoreKv`). */
export interface RotaryStoreKvArgs {
  rotary: RotaryArgs;
  store: StoreKvArgs;
}

export interface AttentionArgs {
  out: DeviceAddress;
  q: DeviceAddress;
  kCache: DeviceAddress;
  vCache: DeviceAddress;
  batch: AttentionBatch;
  tokens: number;
  qHeads: number;
  kvHeads: number;
  headDim: number;
  qStride: number;
  scale: number;
  dtype: DType;
  /**
   * Each query row's bits independent of the batch, of its sequence's other query rows and of
   * a cached prefix (keys in fixed chunks merged in one order); left out: false.
   */
  batchInvariant?: boolean;
}

export interface SiluAndMulArgs {
  out: DeviceAddress;
  gateUp: DeviceAddress;
  rows: number;
  inter: number;
  dtype: DType;
}

export interface GemmArgs {
  out: DeviceAddress;
  a: DeviceAddress;
  w: DeviceAddress;
  /** [n]; 0 or left out: none */
  bias?: DeviceAddress;
  m: number;
  n: number;
  k: number;
  dtype: DType;
  /** Each row's bits independent of m (one k order, no split, no shape-picked kernel); left out: false. */
  batchInvariant?: boolean;
}

export interface SampleArgs {
  /** int32 [rows] */
  out: DeviceAddress;
  logits: DeviceAddress;
  rows: number;
  vocab: number;
  /** float32 [rows] */
  temperature: DeviceAddress;
  /** int32 [rows] */
  topK: DeviceAddress;
  /** float32 [rows] */
  topP: DeviceAddress;
  /** uint64 [rows] */
  randomKeys: DeviceAddress;
  dtype: DType;
}

export interface TokenLogprobsArgs {
  /** float32 [rows] */
  out: DeviceAddress;
  logits: DeviceAddress;
  /** int32 [rows] */
  ids: DeviceAddress;
  /** float32 [rows] */
  temperature: DeviceAddress;
  rows: number;
  vocab: number;
  dtype: DType;
}

export interface AddLogitBiasArgs {
  logits: DeviceAddress;
  /** int32 [count] */
  rows: DeviceAddress;
  /** int32 [count] */
  ids: DeviceAddress;
  /** float32 [count] */
  values: DeviceAddress;
  count: number;
  numRows: number;
  vocab: number;
  dtype: DType;
}

export interface TopLogprobsArgs {
  /** int32 [rows, k] */
  outIds: DeviceAddress;
  /** float32 [rows, k] */
  outLogprobs: DeviceAddress;
  logits: DeviceAddress;
  /** float32 [rows] */
  temperature: DeviceAddress;
  rows: number;
  vocab: number;
  k: number;
  dtype: DType;
}
