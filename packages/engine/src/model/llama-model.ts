import type { KvPool } from '@ts/kv-pool';
import type { DType, Ops } from '@ts/memory-saver-native';
import type { ModelConfig } from './loader/model-config.js';
import type { StepMetadata } from './step-metadata.js';
import type { LoadedWeights } from './weights/load-weights.js';
import type { Workspace } from './workspace.js';

/**
 * The Llama-family decoder (Llama 2/3, Mistral, Qwen2 with q/k/v bias, Qwen3 with q/k norm)
 * as a sequence of kernel calls. q/k/v and gate/up sit back to back in the weights, so each
 * pair or triple is one GEMM.
 */
export class LlamaModel {
  private readonly qWidth: number;
  private readonly kvWidth: number;
  private readonly qkvWidth: number;

  constructor(
    readonly config: ModelConfig,
    private readonly weights: LoadedWeights,
    private readonly ops: Ops,
    private readonly inverseFrequencies: number,
  ) {
    this.qWidth = config.numHeads * config.headDim;
    this.kvWidth = config.numKvHeads * config.headDim;
    this.qkvWidth = this.qWidth + 2 * this.kvWidth;
  }

  /**
   * Runs the batch and leaves logits in the workspace's `logits` buffer: one row per sequence
   * (its last token), or one per token when `allPositions`. Returns the number of rows.
   */
  forward(ws: Workspace, meta: StepMetadata, kv: KvPool, allPositions = false): number {
    const { config: c, ops } = this;
    const dtype = ws.dims.dtype;
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

    ops.embedding(
      residual,
      w('model.embed_tokens.weight'),
      at(meta.offsets.ids),
      t,
      c.hiddenSize,
      dtype,
    );
    const inputNorm = (l: number) => w(`model.layers.${l}.input_layernorm.weight`);
    ops.rmsNorm(normed, residual, inputNorm(0), t, c.hiddenSize, c.rmsNormEps, dtype);
    // Each residual add is fused with the norm after it; `normed` holds the layer's normed input.
    for (let l = 0; l < c.numLayers; l++) {
      const p = `model.layers.${l}.`;
      const bias = c.attentionBias ? w(`${p}self_attn.q_proj.bias`) : 0;
      ops.gemm(
        qkv,
        normed,
        w(`${p}self_attn.q_proj.weight`),
        bias,
        t,
        this.qkvWidth,
        c.hiddenSize,
        dtype,
      );
      if (c.qkNorm) this.normalizeHeads(qkv, k, t, p, dtype);
      ops.rotary(
        qkv,
        k,
        at(meta.offsets.positions),
        t,
        c.numHeads,
        c.numKvHeads,
        c.headDim,
        c.headDim,
        this.qkvWidth,
        this.qkvWidth,
        this.inverseFrequencies,
        c.rotaryLayout,
        dtype,
      );
      const [kCache, vCache] = [kv.keyAddress(l), kv.valueAddress(l)];
      ops.storeKv(
        kCache,
        vCache,
        k,
        v,
        at(meta.offsets.slots),
        t,
        c.numKvHeads,
        c.headDim,
        this.qkvWidth,
        this.qkvWidth,
        dtype,
      );
      ops.attention(
        attention,
        qkv,
        kCache,
        vCache,
        l === 0 ? batch : { ...batch, reusePlan: true },
        t,
        c.numHeads,
        c.numKvHeads,
        c.headDim,
        this.qkvWidth,
        1 / Math.sqrt(c.headDim),
        dtype,
      );
      const oBias = c.attentionOutputBias ? w(`${p}self_attn.o_proj.bias`) : 0;
      ops.gemm(
        hidden,
        attention,
        w(`${p}self_attn.o_proj.weight`),
        oBias,
        t,
        c.hiddenSize,
        this.qWidth,
        dtype,
      );
      ops.addRmsNorm(
        normed,
        residual,
        hidden,
        w(`${p}post_attention_layernorm.weight`),
        t,
        c.hiddenSize,
        c.rmsNormEps,
        dtype,
      );
      ops.gemm(
        gateUp,
        normed,
        w(`${p}mlp.gate_proj.weight`),
        0,
        t,
        2 * c.intermediateSize,
        c.hiddenSize,
        dtype,
      );
      ops.siluAndMul(activation, gateUp, t, c.intermediateSize, dtype);
      ops.gemm(
        hidden,
        activation,
        w(`${p}mlp.down_proj.weight`),
        0,
        t,
        c.hiddenSize,
        c.intermediateSize,
        dtype,
      );
      if (l + 1 < c.numLayers)
        ops.addRmsNorm(
          normed,
          residual,
          hidden,
          inputNorm(l + 1),
          t,
          c.hiddenSize,
          c.rmsNormEps,
          dtype,
        );
      else ops.add(residual, residual, hidden, t * c.hiddenSize, dtype);
    }
    const rows = allPositions ? t : meta.logitRows;
    const last = allPositions ? residual : ws.address('lastHidden');
    if (!allPositions)
      ops.embedding(last, residual, at(meta.offsets.lastRows), rows, c.hiddenSize, dtype);
    ops.rmsNorm(normed, last, w('model.norm.weight'), rows, c.hiddenSize, c.rmsNormEps, dtype);
    const head = this.weights.has('lm_head.weight')
      ? w('lm_head.weight')
      : w('model.embed_tokens.weight');
    ops.gemm(ws.address('logits'), normed, head, 0, rows, c.vocabSize, c.hiddenSize, dtype);
    return rows;
  }

  /** Qwen3's per-head RMSNorm of q and k, each a group of head rows in every token's qkv row. */
  private normalizeHeads(q: number, k: number, tokens: number, prefix: string, dtype: DType): void {
    const c = this.config;
    const w = (name: string) => this.weights.address(`${prefix}self_attn.${name}.weight`);
    const groups = (heads: number) => ({ rowsPerGroup: heads, groupStride: this.qkvWidth });
    const [qRows, kRows] = [tokens * c.numHeads, tokens * c.numKvHeads];
    const eps = c.rmsNormEps;
    this.ops.rmsNorm(q, q, w('q_norm'), qRows, c.headDim, eps, dtype, groups(c.numHeads));
    this.ops.rmsNorm(k, k, w('k_norm'), kRows, c.headDim, eps, dtype, groups(c.numKvHeads));
  }
}
