import type { DeviceAddress, DType, Ops, RotaryLayout } from '@ts/memory-saver-native';

/**
 * The sum over ranks a row-parallel linear needs (a `Communicator` from
 * `@ts/memory-saver-native` is one); at TP 1 it has nothing to add.
 */
export interface RankSum {
  allReduceSum(address: DeviceAddress, count: number, dtype: DType): void;
}

/** One rank's view of the layer: heads and intermediate size are this rank's shares. */
export interface RankLayerShape {
  tokens: number;
  hiddenSize: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  intermediateSize: number;
  rmsNormEps: number;
  rotaryLayout: RotaryLayout;
  pageSize: number;
  dtype: DType;
}

/** The rank's weights: q/k/v and gate/up fused as the weight layout packs them. */
export interface RankLayerWeights {
  inputNorm: DeviceAddress;
  qkv: DeviceAddress;
  o: DeviceAddress;
  postNorm: DeviceAddress;
  gateUp: DeviceAddress;
  down: DeviceAddress;
}

/** Activations, this rank's KV cache and the step's metadata (int32 arrays, float32 invFreq). */
export interface RankLayerBuffers {
  residual: DeviceAddress;
  normed: DeviceAddress;
  qkv: DeviceAddress;
  attention: DeviceAddress;
  hidden: DeviceAddress;
  gateUp: DeviceAddress;
  activation: DeviceAddress;
  kCache: DeviceAddress;
  vCache: DeviceAddress;
  positions: DeviceAddress;
  slots: DeviceAddress;
  queryStart: DeviceAddress;
  seqLens: DeviceAddress;
  pageTable: DeviceAddress;
  invFreq: DeviceAddress;
}

/**
 * One Llama decoder layer of one sequence on one tensor-parallel rank: `residual` (the whole
 * hidden state, the same on every rank) gains the attention and MLP outputs. Attention runs on
 * the rank's heads and its own KV cache; o and down give partial sums that `sum` adds across
 * ranks, so every rank ends with the same residual.
 */
export function tensorParallelLayer(
  ops: Ops,
  sum: RankSum,
  shape: RankLayerShape,
  weights: RankLayerWeights,
  buffers: RankLayerBuffers,
): void {
  const { tokens, hiddenSize: dim, headDim, rmsNormEps: eps, dtype } = shape;
  const b = buffers;
  const qWidth = shape.numHeads * headDim;
  const kvWidth = shape.numKvHeads * headDim;
  const qkvWidth = qWidth + 2 * kvWidth;
  const bytes = dtype === 'float32' ? 4 : 2;
  const k = b.qkv + qWidth * bytes;
  const v = k + kvWidth * bytes;
  const heads = { qHeads: shape.numHeads, kvHeads: shape.numKvHeads, headDim };

  ops.rmsNorm({
    out: b.normed,
    x: b.residual,
    weight: weights.inputNorm,
    rows: tokens,
    dim,
    eps,
    dtype,
  });
  ops.gemm({ out: b.qkv, a: b.normed, w: weights.qkv, m: tokens, n: qkvWidth, k: dim, dtype });
  const { kvHeads } = heads;
  const caches = { kCache: b.kCache, vCache: b.vCache };
  ops.rotaryStoreKv({
    rotary: {
      q: b.qkv,
      k,
      positions: b.positions,
      tokens,
      ...heads,
      rotaryDim: headDim,
      qStride: qkvWidth,
      kStride: qkvWidth,
      invFreq: b.invFreq,
      layout: shape.rotaryLayout,
      dtype,
    },
    store: {
      ...caches,
      k,
      v,
      slots: b.slots,
      tokens,
      kvHeads,
      headDim,
      kStride: qkvWidth,
      vStride: qkvWidth,
      pageSize: shape.pageSize,
      dtype,
    },
  });
  const batch = {
    numSeqs: 1,
    queryStart: b.queryStart,
    seqLens: b.seqLens,
    pageTable: b.pageTable,
    pageTableStride: 1,
    pageSize: shape.pageSize,
  };
  const scale = 1 / Math.sqrt(headDim);
  ops.attention({
    out: b.attention,
    q: b.qkv,
    ...caches,
    batch,
    tokens,
    ...heads,
    qStride: qkvWidth,
    scale,
    dtype,
  });
  ops.gemm({ out: b.hidden, a: b.attention, w: weights.o, m: tokens, n: dim, k: qWidth, dtype });
  sum.allReduceSum(b.hidden, tokens * dim, dtype);
  const post = { out: b.normed, residual: b.residual, delta: b.hidden, weight: weights.postNorm };
  ops.addRmsNorm({ ...post, rows: tokens, dim, eps, dtype });
  const inter = shape.intermediateSize;
  ops.gemm({
    out: b.gateUp,
    a: b.normed,
    w: weights.gateUp,
    m: tokens,
    n: 2 * inter,
    k: dim,
    dtype,
  });
  ops.siluAndMul({ out: b.activation, gateUp: b.gateUp, rows: tokens, inter, dtype });
  ops.gemm({ out: b.hidden, a: b.activation, w: weights.down, m: tokens, n: dim, k: inter, dtype });
  sum.allReduceSum(b.hidden, tokens * dim, dtype);
  ops.add(b.residual, b.residual, b.hidden, tokens * dim, dtype);
}
