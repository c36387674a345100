/** A device address as a plain number (allocations stay below 2^53): `Number(allocation.address)`. */
export type DeviceAddress = number;

/** The element type of activations and weights (one per engine); math is float32 throughout. */
export type DType = 'float32' | 'bfloat16' | 'float16';

/**
 * Which dims rotary embeddings pair: `half-split` (Hugging Face) rotates (x[i], x[i + d/2]);
 * `adjacent` (llama2.c, Meta) rotates (x[2i], x[2i + 1]).
 */
export type RotaryLayout = 'half-split' | 'adjacent';

const DTYPE_CODES: Record<DType, number> = { float32: 0, bfloat16: 1, float16: 2 };
const LAYOUT_CODES: Record<RotaryLayout, number> = { 'half-split': 0, adjacent: 1 };

/** Bytes per element. */
export function dtypeBytes(dtype: DType): 4 | 2 {
  return dtypeCode(dtype) === 0 ? 4 : 2;
}

/** @internal the native encoding of a dtype */
export function dtypeCode(dtype: DType): number {
  const code = DTYPE_CODES[dtype];
  if (code === undefined) {
    throw new TypeError(`dtype must be 'float32', 'bfloat16' or 'float16', got '${dtype}'`);
  }
  return code;
}

/** @internal the native encoding of a rotary layout */
export function layoutCode(layout: RotaryLayout): number {
  const code = LAYOUT_CODES[layout];
  if (code === undefined) {
    throw new TypeError(`layout must be 'half-split' or 'adjacent', got '${layout}'`);
  }
  return code;
}

/**
 * The metadata of one attention batch, as device arrays (int32). Query token i of sequence s
 * (qLen = queryStart[s + 1] - queryStart[s]) sits at position seqLens[s] - qLen + i and sees
 * keys 0..position; key j of sequence s lives in slot
 * pageTable[s * pageTableStride + j / pageSize] * pageSize + j % pageSize.
 */
export interface AttentionBatch {
  numSeqs: number;
  /** int32 [numSeqs + 1]: cumulative query-token counts, starting at 0, ending at `tokens`. */
  queryStart: DeviceAddress;
  /** int32 [numSeqs]: tokens in the KV cache after this step (cached + new). */
  seqLens: DeviceAddress;
  /** int32 [numSeqs, pageTableStride]: page indices. */
  pageTable: DeviceAddress;
  pageTableStride: number;
  /** Tokens per page. */
  pageSize: number;
  /**
   * The metadata and shape are the previous attention call's and nothing wrote the metadata
   * since (the later layers of one forward pass): the CUDA backend then keeps that call's work
   * plan and checks instead of planning again. Default false.
   */
  reusePlan?: boolean;
}
