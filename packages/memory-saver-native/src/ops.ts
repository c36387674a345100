import { DeviceTransfers } from './device-transfers.js';
import type {
  AddLogitBiasArgs,
  AddRmsNormArgs,
  AttentionArgs,
  EmbeddingArgs,
  GemmArgs,
  RmsNormArgs,
  RotaryArgs,
  RotaryStoreKvArgs,
  SampleArgs,
  SiluAndMulArgs,
  StoreKvArgs,
  TokenLogprobsArgs,
  TopLogprobsArgs,
} from './kernel-args.js';
import { type MemorySaver, nativeOf } from './memory-saver.js';
import { loadAddon, type NativeOps } from './native-binding.js';
import { type DeviceAddress, type DType, dtypeCode, layoutCode } from './ops-types.js';

/**
 * The model kernels of a saver's device (`native/src/kernels/kernels.h`). Calls are
 * synchronous and may take long: run them off the event loop (a worker thread). Addresses are
 * `Number(allocation.address)`; tensors are row-major and contiguous unless a row stride (in
 * elements) is given; activations and weights are `dtype`, metadata int32 / float32 / uint64
 * as named; all math is float32. Bad arguments throw, naming the kernel and the argument; bad
 * content of device arrays (a negative id, attention metadata) throws at the call on the CPU
 * and at the next `download` or `synchronize` on CUDA.
 */
export class Ops extends DeviceTransfers {
  readonly #native: NativeOps;
  readonly #device: string;

  /** @internal use `createOps` */
  constructor(native: NativeOps, device: string) {
    super(native);
    this.#native = native;
    this.#device = device;
  }

  /**
   * out[t, :] = table[ids[t], :]; ids: int32 [tokens]. With `vocabShard`, out[t, :] =
   * table[ids[t] - vocabStart, :] for ids in the shard and zeros for the others (a
   * vocabulary-parallel embedding, summed over ranks after); the CPU backend only.
   */
  embedding(args: EmbeddingArgs): void {
    const { vocabShard, ...rest } = args;
    if (vocabShard && this.#device !== 'cpu')
      throw new Error(
        `embedding: vocabShard is implemented on the CPU backend only, not ${this.#device}`,
      );
    this.#native.embedding({
      ...rest,
      vocabStart: vocabShard?.vocabStart ?? 0,
      vocabRows: vocabShard?.vocabRows ?? 0,
      dtype: dtypeCode(args.dtype),
    });
  }

  /**
   * out[r, :] = x[r, :] / sqrt(mean(x[r, :]²) + eps) * weight; `out` may be `x`. Rows are
   * contiguous unless `rowsPerGroup` and `groupStride` say they come `rowsPerGroup` at a time, `groupStride` elements
   * apart (the heads of q inside each token's fused q/k/v row, say).
   */
  rmsNorm(args: RmsNormArgs): void {
    this.#native.rmsNorm({
      ...args,
      rowsPerGroup: args.rowsPerGroup ?? args.rows,
      groupStride: args.groupStride ?? args.rows * args.dim,
      dtype: dtypeCode(args.dtype),
    });
  }

  /**
   * residual[r, :] += delta[r, :] (stored in `dtype`), then out[r, :] = rmsNorm(residual[r, :]) *
   * weight, exactly as `add(residual, residual, delta, rows * dim)` then `rmsNorm(out, residual,
   * weight, rows, dim, eps)` give on the same backend, in one pass over each row (a decoder
   * layer's residual add and the next norm). Rows are contiguous; `out` must differ from
   * `residual` and `delta`.
   */
  addRmsNorm(args: AddRmsNormArgs): void {
    this.#native.addRmsNorm({ ...args, dtype: dtypeCode(args.dtype) });
  }

  /** out = a + b over n elements; `out` may be `a` or `b`. */
  add(out: DeviceAddress, a: DeviceAddress, b: DeviceAddress, n: number, dtype: DType): void {
    this.#native.add(out, a, b, n, dtypeCode(dtype));
  }

  /**
   * Rotates q [tokens, qHeads * headDim] (row stride qStride) and k [tokens, kvHeads * headDim]
   * (row stride kStride) in place, over the first rotaryDim dims of each head, at int32
   * `positions` [tokens]: angle = position * invFreq[i], invFreq float32 [rotaryDim / 2].
   */
  rotary(args: RotaryArgs): void {
    this.#native.rotary(nativeRotary(args));
  }

  /**
   * Writes token t's k and v rows (kvHeads * headDim; row strides kStride, vStride) into the
   * caches at slot `slots[t]` (int32 [tokens]; negative: skipped): pages of pageSize slots,
   * each [kvHeads][pageSize][headDim].
   */
  storeKv(args: StoreKvArgs): void {
    this.#native.storeKv(nativeStoreKv(args));
  }

  /**
   * `rotary(args.rotary)` then `storeKv(args.store)`, with the same result: one launch on CUDA
   * where the k stored is the k rotated, rows are 16-byte vectors and the whole head rotates.
   */
  rotaryStoreKv(args: RotaryStoreKvArgs): void {
    this.#native.rotaryStoreKv({
      rotary: nativeRotary(args.rotary),
      store: nativeStoreKv(args.store),
    });
  }

  /**
   * Causal attention of a batch of sequences over their paged KV caches (see `AttentionBatch`).
   * q: [tokens, qHeads * headDim] (row stride qStride); out: [tokens, qHeads * headDim];
   * query head h reads kv head h / (qHeads / kvHeads); scores are q·k * scale.
   */
  attention(args: AttentionArgs): void {
    this.#native.attention({
      ...args,
      batch: { ...args.batch, reusePlan: args.batch.reusePlan ?? false },
      dtype: dtypeCode(args.dtype),
      batchInvariant: args.batchInvariant ?? false,
    });
  }

  /** out[r, :] = silu(gateUp[r, :inter]) * gateUp[r, inter:]; gateUp: [rows, 2 * inter]. */
  siluAndMul(args: SiluAndMulArgs): void {
    this.#native.siluAndMul({ ...args, dtype: dtypeCode(args.dtype) });
  }

  /** out[m, n] = a[m, k] · w[n, k]ᵀ (+ bias[n] unless bias is 0): a Linear, [out, in] weights. */
  gemm(args: GemmArgs): void {
    this.#native.gemm({
      ...args,
      bias: args.bias ?? 0,
      dtype: dtypeCode(args.dtype),
      batchInvariant: args.batchInvariant ?? false,
    });
  }

  /** Converts n elements from `inType` to `outType`. */
  convert(
    out: DeviceAddress,
    outType: DType,
    input: DeviceAddress,
    inType: DType,
    n: number,
  ): void {
    this.#native.convert(out, dtypeCode(outType), input, dtypeCode(inType), n);
  }

  /**
   * One token id per row of logits [rows, vocab] into out (int32 [rows]): argmax (lowest id on
   * ties) where temperature[r] <= 0, else drawn from softmax(logits / temperature) restricted
   * to the topK[r] (0 = all) highest logits and to the smallest set reaching probability
   * topP[r] (1 = all), with a draw made from randomKeys[r] alone: one key, one token.
   * temperature, topP: float32 [rows]; topK: int32 [rows]; randomKeys: uint64 [rows].
   */
  sample(args: SampleArgs): void {
    this.#native.sample({ ...args, dtype: dtypeCode(args.dtype) });
  }

  /**
   * out[r] = the log-probability of token ids[r] in row r of logits [rows, vocab]: under
   * softmax(logits[r, :] / temperature[r]) where temperature[r] > 0 (the distribution `sample`
   * draws from, before any top-k / top-p cut), else under softmax(logits[r, :]). Float32 math,
   * the maximum subtracted first. ids: int32 [rows], each in [0, vocab) (else a content error,
   * thrown like a negative embedding id); temperature, out: float32 [rows].
   */
  tokenLogprobs(args: TokenLogprobsArgs): void {
    this.#native.tokenLogprobs({ ...args, dtype: dtypeCode(args.dtype) });
  }

  /**
   * logits[rows[i], ids[i]] += values[i] for each pair i < count, in place on logits
   * [numRows, vocab]: logit bias, and banned tokens (a value of -Infinity), before `sample`,
   * `tokenLogprobs` or `topLogprobs`. Each add is taken in float32 and stored in `dtype`
   * (rounded to nearest even), the same bits on every backend; a pair named more than once adds
   * every value, in pair order. rows, ids: int32 [count]; values: float32 [count]. count may be 0
   * (then nothing is read and the addresses may be 0). A pair outside [0, numRows) x [0, vocab)
   * is a content error naming the lowest such pair (thrown like a negative embedding id), and
   * then no pair is applied.
   */
  addLogitBias(args: AddLogitBiasArgs): void {
    this.#native.addLogitBias({ ...args, dtype: dtypeCode(args.dtype) });
  }

  /**
   * The k most likely tokens of each row r of logits [rows, vocab] and their log-probabilities,
   * under the distribution `tokenLogprobs` uses (softmax(logits[r, :] / temperature[r]) where
   * temperature[r] > 0, else softmax(logits[r, :])). Row r's picks are ordered by logit as held
   * (in float32) descending, ties to the lower id (-0 ties with +0; NaN ranks below every
   * number); each logprob is bit for bit what `tokenLogprobs` gives for that id on the same
   * backend. outIds: int32 [rows, k]; outLogprobs: float32 [rows, k]; temperature: float32
   * [rows]; 1 <= k <= min(64, vocab).
   */
  topLogprobs(args: TopLogprobsArgs): void {
    this.#native.topLogprobs({ ...args, dtype: dtypeCode(args.dtype) });
  }

  /** Whether this device records graphs (both backends do: CUDA graphs, recorded calls on the CPU). */
  get canCapture(): boolean {
    return this.#native.canCapture();
  }

  /**
   * Records, without running, every kernel call up to `endCapture` (no uploads, downloads or
   * synchronizes in between). Run the same calls once before capturing them, so the scratch
   * they need already exists. Throws where `canCapture` is false.
   */
  beginCapture(): void {
    this.#native.beginCapture();
  }

  /** Closes the capture; the graph's id, or -1 when the capture failed (nothing kept). */
  endCapture(): number {
    return this.#native.endCapture();
  }

  /**
   * Runs a captured graph again: the same kernels and arguments, reading device arrays as they
   * are now. False when the graph was dropped (scratch moved, or a pause trimmed it): capture
   * again. Ids are never reused.
   */
  replay(graph: number): boolean {
    return this.#native.replay(graph);
  }

  /** Drops every captured graph. */
  dropGraphs(): void {
    this.#native.dropGraphs();
  }

  /**
   * The most scratch the kernels use for batches of up to `maxTokens` tokens with `group`
   * query heads per KV head (the cuBLAS workspace and attention's partial results on CUDA;
   * 0 on the CPU).
   */
  scratchBytes(maxTokens: number, group: number): number {
    return this.#native.scratchBytes(maxTokens, group);
  }

  /**
   * Puts the kernels' scratch at `address` (at least `scratchBytes` of the largest batch to
   * come) from now on, e.g. in memory of a releasable tag: a pause then leaves it, and every
   * captured graph, in place, and a resume maps it again at the same address, so graphs
   * replay after a wake without a new capture. Freeing that memory gives the kernels their
   * own scratch back (and drops every graph). A call that would need more scratch throws.
   */
  useScratch(address: number, bytes: number): void {
    this.#native.useScratch(address, bytes);
  }
}

/** The kernels of `saver`'s device. */
export function createOps(saver: MemorySaver): Ops {
  const native = nativeOf(saver);
  return new Ops(new (loadAddon().NativeOps)(native), native.deviceName);
}

function nativeRotary(args: RotaryArgs) {
  return { ...args, layout: layoutCode(args.layout), dtype: dtypeCode(args.dtype) };
}

function nativeStoreKv(args: StoreKvArgs) {
  return { ...args, dtype: dtypeCode(args.dtype) };
}
