import type { DeviceAddress, DType, Ops } from '@ts/memory-saver-native';

/** The gather vocabulary-parallel logits need (a `Communicator` is one). */
export interface RankGather {
  allGather(
    input: DeviceAddress,
    count: number,
    dtype: DType,
    out: DeviceAddress,
    rows?: number,
  ): void;
}

export interface ParallelLogitsArgs {
  /** [rows, hiddenSize]: the last hidden states, the same on every rank. */
  hidden: DeviceAddress;
  /** [rows, hiddenSize] scratch for the normed states. */
  normed: DeviceAddress;
  /** [rows, rankVocab]: this rank's scores. */
  rankLogits: DeviceAddress;
  /** [rows, rankVocab * tpSize]: every rank's scores side by side, the full vocabulary. */
  logits: DeviceAddress;
  finalNorm: DeviceAddress;
  /** This rank's rows of lm_head (or of the tied embedding): [rankVocab, hiddenSize]. */
  lmHead: DeviceAddress;
  rows: number;
  hiddenSize: number;
  rankVocab: number;
  rmsNormEps: number;
  dtype: DType;
}

/**
 * The final norm, this rank's share of lm_head, and the gather that puts every rank's
 * vocabulary rows side by side, so each rank holds the full [rows, vocab] logits that TP 1
 * would (the vocabulary split is in rank order, rank r's rows at r * rankVocab).
 */
export function tensorParallelLogits(ops: Ops, gather: RankGather, args: ParallelLogitsArgs): void {
  const { rows, hiddenSize: dim, rankVocab, dtype } = args;
  ops.rmsNorm({
    out: args.normed,
    x: args.hidden,
    weight: args.finalNorm,
    rows,
    dim,
    eps: args.rmsNormEps,
    dtype,
  });
  ops.gemm({
    out: args.rankLogits,
    a: args.normed,
    w: args.lmHead,
    m: rows,
    n: rankVocab,
    k: dim,
    dtype,
  });
  gather.allGather(args.rankLogits, rows * rankVocab, dtype, args.logits, rows);
}
