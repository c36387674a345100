import type { Allocation, MemorySaver } from '@ts/memory-saver-native';
import { DTYPE_BYTES, type TensorDtype } from './loader/tensor-source.js';

export interface WorkspaceDims {
  hiddenSize: number;
  /** Columns of the fused q/k/v projection: (heads + 2 * kvHeads) * headDim. */
  qkvWidth: number;
  /** Columns of the attention output: heads * headDim. */
  attentionWidth: number;
  intermediateSize: number;
  vocabSize: number;
  /** A tensor-parallel rank's share of the vocabulary, whose scores it gathers (0 at TP 1). */
  rankVocabSize?: number;
  /** Most tokens one forward pass computes. */
  maxTokens: number;
  /** Most sequences in one forward pass. */
  maxSeqs: number;
  /** Most pages one sequence holds. */
  maxPagesPerSeq: number;
  /** Rows of logits one pass can produce: maxSeqs normally, maxTokens to see every position. */
  maxLogitRows: number;
  dtype: TensorDtype;
  /** The kernels' own scratch (`Ops.scratchBytes`), kept here so that it never moves. */
  kernelScratchBytes?: number;
}

export type BufferName =
  | 'hidden'
  | 'residual'
  | 'normed'
  | 'qkv'
  | 'attention'
  | 'gateUp'
  | 'activation'
  | 'lastHidden'
  | 'logits'
  | 'rankLogits'
  | 'logitsFloat32'
  | 'metadata'
  | 'temperature'
  | 'topK'
  | 'topP'
  | 'randomKeys'
  | 'sampled'
  | 'logprobs'
  | 'rowTargets'
  | 'rowZeros'
  | 'rowLogprobs'
  | 'topIds'
  | 'topLogprobs'
  | 'biasRows'
  | 'biasIds'
  | 'biasValues'
  | 'kernelScratch';

const ALIGN = 256;
/** The most alternatives per position `topLogprobs` reports (the kernels' limit). */
export const MAX_TOP_LOGPROBS = 64;
/**
 * The most logit-bias entries a request brings: its logit_bias, and its stop_token_ids while
 * min_new_tokens bans them.
 */
export const MAX_REQUEST_LOGIT_BIAS = 300;
/** The most logit-bias entries per sequence and step: a request's and up to 20 end tokens. */
export const MAX_LOGIT_BIAS = MAX_REQUEST_LOGIT_BIAS + 20;

/**
 * Scratch memory of one forward pass: activations, per-step metadata and the kernels' own
 * scratch, carved out of one allocation whose addresses never change, so captured graphs stay
 * valid. Nothing in it outlives a step (metadata is uploaded every step), so it may sit in a
 * releasable tag: the engine puts it in `cuda_graph`, which a release frees and a resume maps
 * again at the same addresses (no forward pass runs while a tag is released).
 */
export class Workspace {
  private constructor(
    readonly allocation: Allocation,
    readonly dims: WorkspaceDims,
    private readonly offsets: Map<BufferName, number>,
  ) {}

  static async create(saver: MemorySaver, dims: WorkspaceDims, tag?: string): Promise<Workspace> {
    const e = DTYPE_BYTES[dims.dtype];
    const { maxTokens: t, maxSeqs: s, maxLogitRows: l } = dims;
    const sizes: [BufferName, number][] = [
      ['hidden', t * dims.hiddenSize * e],
      ['residual', t * dims.hiddenSize * e],
      ['normed', t * dims.hiddenSize * e],
      ['qkv', t * dims.qkvWidth * e],
      ['attention', t * dims.attentionWidth * e],
      ['gateUp', t * 2 * dims.intermediateSize * e],
      ['activation', t * dims.intermediateSize * e],
      ['lastHidden', l * dims.hiddenSize * e],
      ['logits', l * dims.vocabSize * e],
      ['rankLogits', l * (dims.rankVocabSize ?? 0) * e],
      ['logitsFloat32', l * dims.vocabSize * 4],
      // lastRows takes up to l entries: a row per sequence, then extra logits rows; inputRows s.
      ['metadata', (3 * t + 3 * s + 1 + l + s * dims.maxPagesPerSeq) * 4],
      ['randomKeys', s * 8],
      ['temperature', s * 4],
      ['topK', s * 4],
      ['topP', s * 4],
      ['sampled', s * 4],
      ['logprobs', s * 4],
      ['rowTargets', l * 4],
      ['rowZeros', l * 4],
      ['rowLogprobs', l * 4],
      ['topIds', s * MAX_TOP_LOGPROBS * 4],
      ['topLogprobs', s * MAX_TOP_LOGPROBS * 4],
      ['biasRows', s * MAX_LOGIT_BIAS * 4],
      ['biasIds', s * MAX_LOGIT_BIAS * 4],
      ['biasValues', s * MAX_LOGIT_BIAS * 4],
      ['kernelScratch', dims.kernelScratchBytes ?? 0],
    ];
    const offsets = new Map<BufferName, number>();
    let offset = 0;
    for (const [name, bytes] of sizes) {
      offsets.set(name, offset);
      offset += Math.ceil(bytes / ALIGN) * ALIGN;
    }
    return new Workspace(await saver.allocate(offset, tag ? { tag } : {}), dims, offsets);
  }

  address(name: BufferName): number {
    return Number(this.allocation.address) + (this.offsets.get(name) as number);
  }
}
