import type { KvPool } from '@ts/kv-pool';
import type { Allocation, MemorySaver, Ops } from '@ts/memory-saver-native';
import type { ForwardSequence, SamplingSpec } from './forward-batch.js';
import { LlamaModel } from './llama-model.js';
import type { ModelConfig } from './loader/model-config.js';
import { inverseFrequencies } from './loader/rope.js';
import type { TensorDtype } from './loader/tensor-source.js';
import { samplingKey } from './sampling-keys.js';
import { buildStepMetadata } from './step-metadata.js';
import type { LoadedWeights } from './weights/load-weights.js';
import { Workspace } from './workspace.js';

export interface RunnerLimits {
  maxTokens: number;
  maxSeqs: number;
  maxPagesPerSeq: number;
  /** Rows of logits one pass may return: maxSeqs, or maxTokens to read every position. */
  maxLogitRows?: number;
  /** The memory tag of the scratch workspace (untagged when omitted). */
  workspaceTag?: string;
}

/** The sampling of one row: its spec and the index of the token it samples (for the seed). */
export interface SampleRequest {
  spec: SamplingSpec;
  tokenIndex: number;
}

/**
 * Runs forward passes of one model on one device: builds each step's metadata, uploads it in
 * one copy, runs the model, and samples on the device so only token ids come back.
 */
export class ModelRunner {
  private lastRowCount: number | null = null;

  private constructor(
    readonly config: ModelConfig,
    readonly dtype: TensorDtype,
    private readonly ops: Ops,
    private readonly model: LlamaModel,
    private readonly workspace: Workspace,
    private readonly constants: Allocation,
  ) {}

  static async create(
    saver: MemorySaver,
    ops: Ops,
    config: ModelConfig,
    weights: LoadedWeights,
    limits: RunnerLimits,
  ): Promise<ModelRunner> {
    const dtype = weights.layout.dtype;
    const workspace = await Workspace.create(
      saver,
      {
        hiddenSize: config.hiddenSize,
        qkvWidth: (config.numHeads + 2 * config.numKvHeads) * config.headDim,
        attentionWidth: config.numHeads * config.headDim,
        intermediateSize: config.intermediateSize,
        vocabSize: config.vocabSize,
        maxTokens: limits.maxTokens,
        maxSeqs: limits.maxSeqs,
        maxPagesPerSeq: limits.maxPagesPerSeq,
        maxLogitRows: limits.maxLogitRows ?? limits.maxSeqs,
        dtype,
      },
      limits.workspaceTag,
    );
    const frequencies = inverseFrequencies(config);
    const constants = await saver.allocate(frequencies.byteLength);
    await saver.copyFromHost(constants, new Uint8Array(frequencies.buffer));
    const model = new LlamaModel(config, weights, ops, Number(constants.address));
    return new ModelRunner(config, dtype, ops, model, workspace, constants);
  }

  get limits(): RunnerLimits {
    const d = this.workspace.dims;
    return {
      maxTokens: d.maxTokens,
      maxSeqs: d.maxSeqs,
      maxPagesPerSeq: d.maxPagesPerSeq,
      maxLogitRows: d.maxLogitRows,
    };
  }

  /** One forward pass; logits stay on the device for `sample` or `logits`. */
  forward(sequences: readonly ForwardSequence[], kv: KvPool, allPositions = false): void {
    const d = this.workspace.dims;
    const meta = buildStepMetadata(sequences, kv.shape.pageSize, this.config.vocabSize);
    if (meta.tokens > d.maxTokens)
      throw new Error(`batch of ${meta.tokens} tokens exceeds maxTokens ${d.maxTokens}`);
    if (meta.numSeqs > d.maxSeqs)
      throw new Error(`batch of ${meta.numSeqs} sequences exceeds maxSeqs ${d.maxSeqs}`);
    if (meta.pageTableStride > d.maxPagesPerSeq) {
      throw new Error(
        `a sequence holds ${meta.pageTableStride} pages, more than maxPagesPerSeq ${d.maxPagesPerSeq}`,
      );
    }
    const rows = allPositions ? meta.tokens : meta.numSeqs;
    if (rows > d.maxLogitRows)
      throw new Error(`${rows} rows of logits exceed maxLogitRows ${d.maxLogitRows}`);
    this.ops.upload(this.workspace.address('metadata'), new Uint8Array(meta.data.buffer));
    this.model.forward(this.workspace, meta, kv, allPositions);
    this.lastRowCount = rows;
  }

  /** The last pass's logits as float32 [rows, vocab]. */
  logits(): Float32Array {
    const rows = this.lastRows();
    const n = rows * this.config.vocabSize;
    const f32 = this.workspace.address('logitsFloat32');
    this.ops.convert(f32, 'float32', this.workspace.address('logits'), this.dtype, n);
    const out = new Float32Array(n);
    this.ops.download(f32, new Uint8Array(out.buffer));
    return out;
  }

  /** Samples one token per row of the last pass's logits. */
  sample(requests: readonly SampleRequest[]): number[] {
    const rows = this.lastRows();
    if (requests.length !== rows)
      throw new Error(`sample needs ${rows} requests, got ${requests.length}`);
    const ws = this.workspace;
    const upload = (name: Parameters<Workspace['address']>[0], data: ArrayBufferView) =>
      this.ops.upload(
        ws.address(name),
        new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
      );
    upload(
      'temperature',
      Float32Array.from(requests, (r) => r.spec.temperature),
    );
    upload(
      'topK',
      Int32Array.from(requests, (r) => r.spec.topK),
    );
    upload(
      'topP',
      Float32Array.from(requests, (r) => r.spec.topP),
    );
    upload(
      'randomKeys',
      BigUint64Array.from(requests, (r) => samplingKey(r.spec.seed, r.tokenIndex)),
    );
    this.ops.sample(
      ws.address('sampled'),
      ws.address('logits'),
      rows,
      this.config.vocabSize,
      ws.address('temperature'),
      ws.address('topK'),
      ws.address('topP'),
      ws.address('randomKeys'),
      this.dtype,
    );
    const out = new Int32Array(rows);
    this.ops.download(ws.address('sampled'), new Uint8Array(out.buffer));
    return Array.from(out);
  }

  async free(saver: MemorySaver): Promise<void> {
    await saver.free(this.workspace.allocation);
    await saver.free(this.constants);
  }

  private lastRows(): number {
    if (this.lastRowCount === null) throw new Error('no forward pass has run');
    return this.lastRowCount;
  }
}
