import type { KvPool } from '@ts/kv-pool';
import type { DType, Ops } from '@ts/memory-saver-native';
import type { ModelConfig } from './loader/model-config.js';
import type { StepMetadata } from './step-metadata.js';
import type { ModelParallel } from './tensor-parallel/model-parallel.js';
import type { LoadedWeights } from './weights/load-weights.js';
import type { Workspace } from './workspace.js';

/**
 * The Llama-family decoder (Llama 2/3, Mistral, Qwen2 with q/k/v bias, Qwen3 with q/k norm)
 * as a sequence of kernel calls. q/k/v and gate/up sit back to back in the weights, so each
 * pair or triple is one GEMM.
 *
 * On a tensor-parallel rank (`parallel`) the weights are the rank's shard: q/k/v and gate/up
 * hold its heads and intermediate columns, o and down its input columns (their partial outputs
 * summed over the ranks), the embedding and lm_head its vocabulary rows (the embedding zero
 * outside them, then summed; lm_head's scores gathered into the full vocabulary).
 */
/** How the model's kernels run: tensor parallel or not (null: the whole model here), batch-invariant or not. */
export interface ModelKernels {
  parallel?: ModelParallel | null;
  /** GEMMs and attention whose rows do not depend on the batch (the deterministic switch). */
  batchInvariant?: boolean;
}

export class LlamaModel {
  private readonly heads: number;
  private readonly kvHeads: number;
  private readonly inter: number;
  private readonly qWidth: number;
  private readonly kvWidth: number;
  private readonly qkvWidth: number;
  private readonly parallel: ModelParallel | null;
  private readonly batchInvariant: boolean;

  constructor(
    readonly config: ModelConfig,
    private readonly weights: LoadedWeights,
    private readonly ops: Ops,
    private readonly inverseFrequencies: number,
    { parallel = null, batchInvariant = false }: ModelKernels = {},
  ) {
    this.parallel = parallel;
    this.batchInvariant = batchInvariant;
    this.heads = parallel?.dims.numHeads ?? config.numHeads;
    this.kvHeads = parallel?.dims.numKvHeads ?? config.numKvHeads;
    this.inter = parallel?.dims.intermediateSize ?? config.intermediateSize;
    this.qWidth = this.heads * config.headDim;
    this.kvWidth = this.kvHeads * config.headDim;
    this.qkvWidth = this.qWidth + 2 * this.kvWidth;
  }

  /** Sums `count` elements at `address` over the tensor-parallel ranks (nothing at TP 1). */
  private sumOverRanks(address: number, count: number, dtype: DType): void {
    this.parallel?.comm.allReduceSum(address, count, dtype);
  }

  /**
   * Runs the batch and leaves logits in the workspace's `logits` buffer: one row per sequence
   * (its last token), or one per token when `allPositions`. Returns the number of rows.
   */
  forward(ws: Workspace, meta: StepMetadata, kv: KvPool, allPositions = false): number {
    const { config: c, ops } = this;
    const dtype = ws.dims.dtype;
    const batchInvariant = this.batchInvariant;
    const t = meta.tokens;
    const w = (name: string) => this.weights.address(name);
    const metadata = ws.address('metadata');
    const at = (offset: number) => metadata + offset * 4;
    const hidden = ws.address('hidden');
    const residual = ws.address('residual');
    const normed = ws.address('normed');
    const qkv = ws.address('qkv');
    const attention = ws.address('attention');
    const gateUp = ws.address('gateUp');
    const activation = ws.address('activation');
    const batch = {
      numSeqs: meta.numSeqs,
      queryStart: at(meta.offsets.queryStart),
      seqLens: at(meta.offsets.seqLens),
      pageTable: at(meta.offsets.pageTable),
      pageTableStride: meta.pageTableStride,
      pageSize: kv.shape.pageSize,
    };
    const bytes = dtype === 'float32' ? 4 : 2;
    const k = qkv + this.qWidth * bytes;
    const v = k + this.kvWidth * bytes;

    const [dim, eps] = [c.hiddenSize, c.rmsNormEps];
    const table = w('model.embed_tokens.weight');
    const ids = at(meta.offsets.ids);
    const shard = this.parallel?.dims;
    const vocabShard = shard ? { vocabStart: shard.vocabStart, vocabRows: shard.vocabSize } : null;
    ops.embedding({
      out: residual,
      table,
      ids,
      tokens: t,
      dim,
      dtype,
      ...(vocabShard && { vocabShard }),
    });
    this.sumOverRanks(residual, t * dim, dtype);
    const inputNorm = (l: number) => w(`model.layers.${l}.input_layernorm.weight`);
    ops.rmsNorm({ out: normed, x: residual, weight: inputNorm(0), rows: t, dim, eps, dtype });
    // Each residual add is fused with the norm after it; `normed` holds the layer's normed input.
    for (let l = 0; l < c.numLayers; l++) {
      const p = `model.layers.${l}.`;
      const bias = c.attentionBias ? w(`${p}self_attn.q_proj.bias`) : 0;
      ops.gemm({
        out: qkv,
        a: normed,
        w: w(`${p}self_attn.q_proj.weight`),
        bias,
        m: t,
        n: this.qkvWidth,
        k: c.hiddenSize,
        dtype,
        batchInvariant,
      });
      if (c.qkNorm) this.normalizeHeads(qkv, k, t, p, dtype);
      const [kCache, vCache] = [kv.keyAddress(l), kv.valueAddress(l)];
      ops.rotaryStoreKv({
        rotary: {
          q: qkv,
          k,
          positions: at(meta.offsets.positions),
          tokens: t,
          qHeads: this.heads,
          kvHeads: this.kvHeads,
          headDim: c.headDim,
          rotaryDim: c.headDim,
          qStride: this.qkvWidth,
          kStride: this.qkvWidth,
          invFreq: this.inverseFrequencies,
          layout: c.rotaryLayout,
          dtype,
        },
        store: {
          kCache,
          vCache,
          k,
          v,
          slots: at(meta.offsets.slots),
          tokens: t,
          kvHeads: this.kvHeads,
          headDim: c.headDim,
          kStride: this.qkvWidth,
          vStride: this.qkvWidth,
          pageSize: kv.shape.pageSize,
          dtype,
        },
      });
      ops.attention({
        out: attention,
        q: qkv,
        kCache,
        vCache,
        batch: l === 0 ? batch : { ...batch, reusePlan: true },
        tokens: t,
        qHeads: this.heads,
        kvHeads: this.kvHeads,
        headDim: c.headDim,
        qStride: this.qkvWidth,
        scale: 1 / Math.sqrt(c.headDim),
        dtype,
        batchInvariant,
      });
      // At TP > 1, rank 0 alone holds o's bias: added once before the sum.
      const oBiasName = `${p}self_attn.o_proj.bias`;
      const oBias = c.attentionOutputBias && this.weights.has(oBiasName) ? w(oBiasName) : 0;
      ops.gemm({
        out: hidden,
        a: attention,
        w: w(`${p}self_attn.o_proj.weight`),
        bias: oBias,
        m: t,
        n: c.hiddenSize,
        k: this.qWidth,
        dtype,
        batchInvariant,
      });
      this.sumOverRanks(hidden, t * c.hiddenSize, dtype);
      ops.addRmsNorm({
        out: normed,
        residual,
        delta: hidden,
        weight: w(`${p}post_attention_layernorm.weight`),
        rows: t,
        dim,
        eps,
        dtype,
      });
      ops.gemm({
        out: gateUp,
        a: normed,
        w: w(`${p}mlp.gate_proj.weight`),
        m: t,
        n: 2 * this.inter,
        k: c.hiddenSize,
        dtype,
        batchInvariant,
      });
      ops.siluAndMul({ out: activation, gateUp, rows: t, inter: this.inter, dtype });
      ops.gemm({
        out: hidden,
        a: activation,
        w: w(`${p}mlp.down_proj.weight`),
        m: t,
        n: c.hiddenSize,
        k: this.inter,
        dtype,
        batchInvariant,
      });
      this.sumOverRanks(hidden, t * c.hiddenSize, dtype);
      if (l + 1 < c.numLayers) {
        const weight = inputNorm(l + 1);
        ops.addRmsNorm({ out: normed, residual, delta: hidden, weight, rows: t, dim, eps, dtype });
      } else ops.add(residual, residual, hidden, t * c.hiddenSize, dtype);
    }
    const rows = allPositions ? t : meta.logitRows;
    const last = allPositions ? residual : ws.address('lastHidden');
    if (!allPositions) {
      const ids = at(meta.offsets.lastRows);
      ops.embedding({ out: last, table: residual, ids, tokens: rows, dim, dtype });
    }
    ops.rmsNorm({ out: normed, x: last, weight: w('model.norm.weight'), rows, dim, eps, dtype });
    const head = this.weights.has('lm_head.weight') ? w('lm_head.weight') : table;
    const logits = ws.address('logits');
    if (!this.parallel) {
      ops.gemm({
        out: logits,
        a: normed,
        w: head,
        m: rows,
        n: c.vocabSize,
        k: dim,
        dtype,
        batchInvariant,
      });
      return rows;
    }
    const rankVocab = this.parallel.dims.vocabSize;
    const rankLogits = ws.address('rankLogits');
    ops.gemm({
      out: rankLogits,
      a: normed,
      w: head,
      m: rows,
      n: rankVocab,
      k: dim,
      dtype,
      batchInvariant,
    });
    this.parallel.comm.allGather(rankLogits, rows * rankVocab, dtype, logits, rows);
    return rows;
  }

  /** Qwen3's per-head RMSNorm of q and k, each a group of head rows in every token's qkv row. */
  private normalizeHeads(q: number, k: number, tokens: number, prefix: string, dtype: DType): void {
    const c = this.config;
    const w = (name: string) => this.weights.address(`${prefix}self_attn.${name}.weight`);
    const norm = (x: number, weight: number, heads: number) =>
      this.ops.rmsNorm({
        out: x,
        x,
        weight,
        rows: tokens * heads,
        dim: c.headDim,
        rowsPerGroup: heads,
        groupStride: this.qkvWidth,
        eps: c.rmsNormEps,
        dtype,
      });
    norm(q, w('q_norm'), this.heads);
    norm(k, w('k_norm'), this.kvHeads);
  }
}
