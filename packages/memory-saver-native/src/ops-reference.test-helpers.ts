// Straightforward references for the kernels, in double precision over the same inputs.
import type { RotaryLayout } from './ops-types.js';

export function rmsNormReference(x: Float32Array, weight: Float32Array, rows: number, eps: number) {
  const dim = weight.length;
  const out = new Float32Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    let squares = 0;
    for (let i = 0; i < dim; i++) squares += (x[r * dim + i] as number) ** 2;
    const inverse = 1 / Math.sqrt(squares / dim + eps);
    for (let i = 0; i < dim; i++)
      out[r * dim + i] = (x[r * dim + i] as number) * inverse * (weight[i] as number);
  }
  return out;
}

export function siluAndMulReference(gateUp: Float32Array, rows: number, inter: number) {
  const out = new Float32Array(rows * inter);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < inter; i++) {
      const gate = gateUp[r * 2 * inter + i] as number;
      out[r * inter + i] =
        (gate / (1 + Math.exp(-gate))) * (gateUp[r * 2 * inter + inter + i] as number);
    }
  }
  return out;
}

export function gemmReference(
  a: Float32Array,
  w: Float32Array,
  bias: Float32Array | null,
  m: number,
  n: number,
  k: number,
) {
  const out = new Float32Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let sum = bias ? (bias[j] as number) : 0;
      for (let l = 0; l < k; l++) sum += (a[i * k + l] as number) * (w[j * k + l] as number);
      out[i * n + j] = sum;
    }
  }
  return out;
}

export interface RotaryShape {
  heads: number;
  headDim: number;
  rotaryDim: number;
  stride: number;
  layout: RotaryLayout;
}

/** Rotates rows of `x` (row stride `shape.stride`) in place at `positions`. */
export function rotaryReference(
  x: Float64Array,
  positions: Int32Array,
  invFreq: Float32Array,
  shape: RotaryShape,
) {
  const half = shape.rotaryDim / 2;
  for (let t = 0; t < positions.length; t++) {
    for (let h = 0; h < shape.heads; h++) {
      const base = t * shape.stride + h * shape.headDim;
      for (let i = 0; i < half; i++) {
        const angle = Math.fround((positions[t] as number) * (invFreq[i] as number));
        const [first, second] = shape.layout === 'adjacent' ? [2 * i, 2 * i + 1] : [i, i + half];
        const x1 = x[base + first] as number;
        const x2 = x[base + second] as number;
        x[base + first] = x1 * Math.cos(angle) - x2 * Math.sin(angle);
        x[base + second] = x2 * Math.cos(angle) + x1 * Math.sin(angle);
      }
    }
  }
}

export interface AttentionCase {
  qHeads: number;
  kvHeads: number;
  headDim: number;
  qStride: number;
  pageSize: number;
  pageTableStride: number;
  qLens: number[];
  seqLens: number[];
  pageTable: Int32Array;
  scale: number;
}

/** Where head `head` of cache slot `slot` starts: pages of [kvHeads][pageSize][headDim] (kv_layout.h). */
export function kvOffset(
  c: { kvHeads: number; headDim: number; pageSize: number },
  slot: number,
  head: number,
): number {
  const page = Math.floor(slot / c.pageSize);
  return ((page * c.kvHeads + head) * c.pageSize + (slot % c.pageSize)) * c.headDim;
}

/** out[tokens, qHeads * headDim] from q (row stride qStride) and paged caches (`kvOffset`). */
export function attentionReference(
  c: AttentionCase,
  q: Float32Array,
  kCache: Float32Array,
  vCache: Float32Array,
) {
  const tokens = c.qLens.reduce((sum, n) => sum + n, 0);
  const out = new Float32Array(tokens * c.qHeads * c.headDim);
  let token = 0;
  c.qLens.forEach((qLen, s) => {
    const seqLen = c.seqLens[s] as number;
    const slot = (key: number) =>
      (c.pageTable[s * c.pageTableStride + Math.floor(key / c.pageSize)] as number) * c.pageSize +
      (key % c.pageSize);
    for (let i = 0; i < qLen; i++, token++) {
      const position = seqLen - qLen + i;
      for (let h = 0; h < c.qHeads; h++) {
        const kvHead = Math.floor(h / (c.qHeads / c.kvHeads));
        const qBase = token * c.qStride + h * c.headDim;
        const scores: number[] = [];
        for (let key = 0; key <= position; key++) {
          const kBase = kvOffset(c, slot(key), kvHead);
          let dot = 0;
          for (let d = 0; d < c.headDim; d++)
            dot += (q[qBase + d] as number) * (kCache[kBase + d] as number);
          scores.push(dot * c.scale);
        }
        const max = Math.max(...scores);
        const weights = scores.map((score) => Math.exp(score - max));
        const total = weights.reduce((sum, w) => sum + w, 0);
        const outBase = (token * c.qHeads + h) * c.headDim;
        weights.forEach((weight, key) => {
          const vBase = kvOffset(c, slot(key), kvHead);
          for (let d = 0; d < c.headDim; d++) {
            out[outBase + d] =
              (out[outBase + d] as number) + (weight / total) * (vCache[vBase + d] as number);
          }
        });
      }
    }
  });
  return out;
}

/** A row's log softmax(row / t) as a function of one logit, t = temperature where it is above 0, else 1. */
function rowLogSoftmax(row: Float32Array, temperature: number): (x: number) => number {
  const t = temperature > 0 ? temperature : 1;
  const max = row.reduce((a, b) => Math.max(a, b), Number.NEGATIVE_INFINITY);
  let sum = 0;
  for (const x of row) sum += Math.exp((x - max) / t);
  const logSum = Math.log(sum);
  return (x) => (x - max) / t - logSum;
}

/**
 * log softmax(row / t)[ids[r]] for each row of logits [rows, vocab], t = temperature[r] where it
 * is above 0, else 1 (the rule of `Ops.tokenLogprobs`).
 */
export function tokenLogprobsReference(
  logits: Float32Array,
  vocab: number,
  ids: ArrayLike<number>,
  temperature: ArrayLike<number>,
): Float64Array {
  const out = new Float64Array(ids.length);
  for (let r = 0; r < ids.length; r++) {
    const row = logits.subarray(r * vocab, (r + 1) * vocab);
    out[r] = rowLogSoftmax(row, temperature[r] as number)(row[ids[r] as number] as number);
  }
  return out;
}

/**
 * Each row's k most likely ids (by logit descending, ties to the lower id) and their logprobs as
 * `tokenLogprobsReference` gives them, row-major [rows, k] (the rule of `Ops.topLogprobs`).
 */
export function topLogprobsReference(
  logits: Float32Array,
  vocab: number,
  k: number,
  temperature: ArrayLike<number>,
): { ids: Int32Array; logprobs: Float64Array } {
  const rows = temperature.length;
  const ids = new Int32Array(rows * k);
  const logprobs = new Float64Array(rows * k);
  for (let r = 0; r < rows; r++) {
    const row = logits.subarray(r * vocab, (r + 1) * vocab);
    const logprob = rowLogSoftmax(row, temperature[r] as number);
    const order = Array.from({ length: vocab }, (_, i) => i).sort(
      (a, b) => (row[b] as number) - (row[a] as number) || a - b,
    );
    for (let j = 0; j < k; j++) {
      const id = order[j] as number;
      ids[r * k + j] = id;
      logprobs[r * k + j] = logprob(row[id] as number);
    }
  }
  return { ids, logprobs };
}
