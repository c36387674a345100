// Runs in a worker thread as plain JavaScript (transpiled by the test), so it imports types only.
import type * as Native from '@ts/memory-saver-native';
import type { RankLayerBuffers, RankLayerShape, tensorParallelLayer } from './decoder-layer.js';
import type { tensorParallelLogits } from './parallel-logits.js';

/** One rank's host float32 weights, q/k/v and gate/up already fused. */
export interface RankLayerHostWeights {
  inputNorm: Float32Array;
  qkv: Float32Array;
  o: Float32Array;
  postNorm: Float32Array;
  gateUp: Float32Array;
  down: Float32Array;
  finalNorm: Float32Array;
  /** This rank's vocabulary rows of lm_head. */
  lmHead: Float32Array;
}

/** The code under test, loaded by the worker. */
export interface RankCode {
  layer: typeof tensorParallelLayer;
  logits: typeof tensorParallelLogits;
}

/** The layer's output hidden states and the full-vocabulary logits of every token after it. */
export interface RankOutput {
  residual: Float32Array;
  logits: Float32Array;
}

export interface LayerRankInput {
  groupId: string;
  worldSize: number;
  rank: number;
  shape: RankLayerShape;
  weights: RankLayerHostWeights;
  /** [tokens, hiddenSize]: the layer's input hidden state, the same on every rank. */
  residual: Float32Array;
  invFreq: Float32Array;
  rankVocab: number;
}

/** Sets up one rank on its own CPU saver, runs the layer and the logits, and returns both. */
export async function runLayerRank(
  native: typeof Native,
  code: RankCode,
  input: LayerRankInput,
): Promise<RankOutput> {
  const saver = native.createMemorySaver({ device: 'cpu' });
  const ops = native.createOps(saver);
  const place = async (data: ArrayBufferView | number): Promise<number> => {
    const bytes = typeof data === 'number' ? data : data.byteLength;
    const address = Number((await saver.allocate(Math.max(bytes, 4))).address);
    if (typeof data !== 'number') ops.upload(address, data);
    return address;
  };
  const { shape } = input;
  const t = shape.tokens;
  const kvWidth = shape.numKvHeads * shape.headDim;
  const positions = Int32Array.from({ length: t }, (_, i) => i);
  const buffers: RankLayerBuffers = {
    residual: await place(input.residual),
    normed: await place(t * shape.hiddenSize * 4),
    qkv: await place(t * (shape.numHeads * shape.headDim + 2 * kvWidth) * 4),
    attention: await place(t * shape.numHeads * shape.headDim * 4),
    hidden: await place(t * shape.hiddenSize * 4),
    gateUp: await place(t * 2 * shape.intermediateSize * 4),
    activation: await place(t * shape.intermediateSize * 4),
    kCache: await place(shape.pageSize * kvWidth * 4),
    vCache: await place(shape.pageSize * kvWidth * 4),
    positions: await place(positions),
    slots: await place(positions),
    queryStart: await place(Int32Array.from([0, t])),
    seqLens: await place(Int32Array.from([t])),
    pageTable: await place(Int32Array.from([0])),
    invFreq: await place(input.invFreq),
  };
  const w = input.weights;
  const weights = {
    inputNorm: await place(w.inputNorm),
    qkv: await place(w.qkv),
    o: await place(w.o),
    postNorm: await place(w.postNorm),
    gateUp: await place(w.gateUp),
    down: await place(w.down),
  };
  const vocab = input.rankVocab * input.worldSize;
  const logits = {
    hidden: buffers.residual,
    normed: buffers.normed,
    rankLogits: await place(t * input.rankVocab * 4),
    logits: await place(t * vocab * 4),
    finalNorm: await place(w.finalNorm),
    lmHead: await place(w.lmHead),
    rows: t,
    hiddenSize: shape.hiddenSize,
    rankVocab: input.rankVocab,
    rmsNormEps: shape.rmsNormEps,
    dtype: shape.dtype,
  };
  const { groupId, worldSize, rank } = input;
  const communicator = native.createCommunicator(saver, { groupId, worldSize, rank });
  try {
    code.layer(ops, communicator, shape, weights, buffers);
    const residual = ops.downloadFloat32(buffers.residual, t * shape.hiddenSize);
    code.logits(ops, communicator, logits);
    return { residual, logits: ops.downloadFloat32(logits.logits, t * vocab) };
  } finally {
    communicator.close();
  }
}
