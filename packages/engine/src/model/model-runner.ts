import type { KvPool } from '@ts/kv-pool';
import type { Allocation, MemorySaver, Ops } from '@ts/memory-saver-native';
import { DecodeGraphs, decodeBucket, type GraphStats } from './decode-graphs.js';
import type { ForwardSequence, SamplingSpec } from './forward-batch.js';
import { LlamaModel, type ModelKernels } from './llama-model.js';
import type { ModelConfig } from './loader/model-config.js';
import { inverseFrequencies } from './loader/rope.js';
import type { TensorDtype } from './loader/tensor-source.js';
import { samplingKey } from './sampling-keys.js';
import { buildStepMetadata } from './step-metadata.js';
import type { LoadedWeights } from './weights/load-weights.js';
import { MAX_LOGIT_BIAS, MAX_TOP_LOGPROBS, Workspace } from './workspace.js';

export interface RunnerLimits {
  maxTokens: number;
  maxSeqs: number;
  maxPagesPerSeq: number;
  /** Rows of logits one pass may return: maxSeqs, or maxTokens to read every position. */
  maxLogitRows?: number;
  /** The memory tag of the scratch workspace (untagged when omitted). */
  workspaceTag?: string;
}

/** A bias on one token's logit in one row (`-Infinity`: banned). */
export interface LogitBias {
  row: number;
  id: number;
  bias: number;
}

/** The sampling of one row: its spec and the index of the token it samples (for the seed). */
export interface SampleRequest {
  spec: SamplingSpec;
  tokenIndex: number;
}

/** Tokens sampled on the device, read by `take` (once) when they are needed. */
export interface QueuedSample {
  take(): { tokens: number[]; logprobs?: number[] };
}

/**
 * Runs forward passes of one model on one device: builds each step's metadata, uploads it in
 * one copy, runs the model, and samples on the device so only token ids come back.
 */
export class ModelRunner {
  private lastRowCount: number | null = null;
  /** Rows `sample` takes: one per sequence (or per token with allPositions). */
  private lastSampleRows = 0;
  private useGraphs: boolean;
  private readonly graphs: DecodeGraphs;

  private constructor(
    readonly config: ModelConfig,
    readonly dtype: TensorDtype,
    private readonly ops: Ops,
    private readonly model: LlamaModel,
    private readonly workspace: Workspace,
    private readonly constants: Allocation,
    /** Tensor parallel: a graph records the kernels, not the collectives between them. */
    private readonly collectives = false,
  ) {
    this.useGraphs = ops.canCapture && !collectives;
    this.graphs = new DecodeGraphs(ops);
  }

  static async create(
    saver: MemorySaver,
    ops: Ops,
    config: ModelConfig,
    weights: LoadedWeights,
    limits: RunnerLimits,
    { parallel = null, batchInvariant = false }: ModelKernels = {},
  ): Promise<ModelRunner> {
    const dtype = weights.layout.dtype;
    const heads = parallel?.dims.numHeads ?? config.numHeads;
    const kvHeads = parallel?.dims.numKvHeads ?? config.numKvHeads;
    const workspace = await Workspace.create(
      saver,
      {
        hiddenSize: config.hiddenSize,
        qkvWidth: (heads + 2 * kvHeads) * config.headDim,
        attentionWidth: heads * config.headDim,
        intermediateSize: parallel?.dims.intermediateSize ?? config.intermediateSize,
        vocabSize: config.vocabSize,
        rankVocabSize: parallel?.dims.vocabSize ?? 0,
        maxTokens: limits.maxTokens,
        maxSeqs: limits.maxSeqs,
        maxPagesPerSeq: limits.maxPagesPerSeq,
        maxLogitRows: limits.maxLogitRows ?? limits.maxSeqs,
        dtype,
        kernelScratchBytes: ops.scratchBytes(limits.maxTokens, heads / kvHeads),
      },
      limits.workspaceTag,
    );
    ops.useScratch(workspace.address('kernelScratch'), workspace.dims.kernelScratchBytes ?? 0);
    const frequencies = inverseFrequencies(config);
    const constants = await saver.allocate(frequencies.byteLength);
    await saver.copyFromHost(constants, new Uint8Array(frequencies.buffer));
    const model = new LlamaModel(config, weights, ops, Number(constants.address), {
      parallel,
      batchInvariant,
    });
    return new ModelRunner(config, dtype, ops, model, workspace, constants, parallel !== null);
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

  /**
   * One forward pass; logits stay on the device for `sample` or `logits`. Decode steps (one
   * token per sequence) run as captured graphs where the device has them: the first step of
   * each padded batch size runs as it comes and is captured, later ones replay the capture.
   */
  forward(sequences: readonly ForwardSequence[], kv: KvPool, allPositions = false): void {
    const d = this.workspace.dims;
    const bucket = allPositions ? null : this.decodeBucket(sequences);
    const padding =
      bucket === null ? undefined : { seqs: bucket, pageTableStride: d.maxPagesPerSeq };
    const meta = buildStepMetadata(sequences, kv.shape.pageSize, this.config.vocabSize, padding);
    const tokens = sequences.reduce((n, s) => n + s.tokens.length, 0);
    const widest = Math.max(...sequences.map((s) => s.pageTable.length));
    if (tokens > d.maxTokens)
      throw new Error(`batch of ${tokens} tokens exceeds maxTokens ${d.maxTokens}`);
    if (sequences.length > d.maxSeqs)
      throw new Error(`batch of ${sequences.length} sequences exceeds maxSeqs ${d.maxSeqs}`);
    if (widest > d.maxPagesPerSeq) {
      throw new Error(
        `a sequence holds ${widest} pages, more than maxPagesPerSeq ${d.maxPagesPerSeq}`,
      );
    }
    // One row per real sequence (padding rows go unread), then the extra logits rows.
    const extraRows = meta.logitRows - meta.numSeqs;
    const rows = allPositions ? tokens : sequences.length + extraRows;
    if (allPositions && extraRows > 0)
      throw new Error('extraLogits and allPositions do not go together');
    if (rows > d.maxLogitRows)
      throw new Error(`${rows} rows of logits exceed maxLogitRows ${d.maxLogitRows}`);
    if (sequences.some((s) => s.inputFrom !== undefined && s.inputFrom >= d.maxSeqs))
      throw new Error(`a sequence takes its token from a row past maxSeqs ${d.maxSeqs}`);
    const metadata = this.workspace.address('metadata');
    this.ops.upload(metadata, new Uint8Array(meta.data.buffer));
    if (meta.inputFromCount > 0) {
      // The tokens the pass before sampled, still on the device, into this pass's ids.
      this.ops.embedding({
        out: metadata + meta.offsets.ids * 4,
        table: this.workspace.address('sampled'),
        ids: metadata + meta.offsets.inputRows * 4,
        tokens: meta.inputFromCount,
        dim: 1,
        dtype: 'float32',
      });
    }
    if (bucket === null) this.model.forward(this.workspace, meta, kv, allPositions);
    else this.graphs.run(kv, bucket, () => this.model.forward(this.workspace, meta, kv));
    this.lastRowCount = rows;
    this.lastSampleRows = allPositions ? tokens : sequences.length;
  }

  /** How decode graphs have fared: captures, replays, failed captures (and the last reason). */
  get graphStats(): Readonly<GraphStats> {
    return this.graphs.stats;
  }

  /** Whether decode steps run as captured graphs (where the device can capture). */
  get graphsEnabled(): boolean {
    return this.useGraphs;
  }

  set graphsEnabled(on: boolean) {
    this.useGraphs = on && this.ops.canCapture && !this.collectives;
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

  /**
   * The log-probability of `targets[r]` under softmax of row r of the last pass's logits, for
   * every row (each sequence's last token, then the extra rows): input-token logprobs, whose
   * targets are the prompt's next tokens (0 where a row is not wanted).
   */
  rowLogprobs(targets: readonly number[]): number[] {
    const rows = this.lastRows();
    if (targets.length !== rows)
      throw new Error(`rowLogprobs needs ${rows} targets, got ${targets.length}`);
    return this.logprobsOfRows(targets, 'rowZeros');
  }

  /**
   * Adds `bias` to the logit of token `id` in row `row` of the last pass's logits, for each
   * entry (-Infinity bans the token): do it before `sample`. At most MAX_LOGIT_BIAS per row.
   */
  biasLogits(entries: readonly LogitBias[]): void {
    if (entries.length === 0) return;
    const ws = this.workspace;
    const rows = this.lastRows();
    const cap = ws.dims.maxSeqs * MAX_LOGIT_BIAS;
    if (entries.length > cap) throw new Error(`${entries.length} logit-bias entries exceed ${cap}`);
    const bad = entries.find(
      (e) => !(e.row >= 0 && e.row < rows && e.id >= 0 && e.id < this.config.vocabSize),
    );
    if (bad) throw new Error(`logit bias for row ${bad.row}, id ${bad.id}: outside the logits`);
    // rows, ids and values lie in that order in the workspace: one upload.
    const base = ws.address('biasRows');
    const block = new ArrayBuffer(ws.address('biasValues') + entries.length * 4 - base);
    new Int32Array(block, 0, entries.length).set(entries.map((e) => e.row));
    new Int32Array(block, ws.address('biasIds') - base, entries.length).set(
      entries.map((e) => e.id),
    );
    new Float32Array(block, ws.address('biasValues') - base, entries.length).set(
      entries.map((e) => e.bias),
    );
    this.ops.upload(base, new Uint8Array(block));
    this.ops.addLogitBias({
      logits: ws.address('logits'),
      rows: base,
      ids: ws.address('biasIds'),
      values: ws.address('biasValues'),
      count: entries.length,
      numRows: rows,
      vocab: this.config.vocabSize,
      dtype: this.dtype,
    });
  }

  /** Samples one token per row of the last pass's logits. */
  sample(requests: readonly SampleRequest[]): number[] {
    return this.queueSample(requests, false).take().tokens;
  }

  /**
   * Samples like `sample`, and gives each token's log-probability under the distribution it
   * was drawn from (softmax(logits / temperature); softmax(logits) for greedy rows).
   */
  sampleWithLogprobs(requests: readonly SampleRequest[]): { tokens: number[]; logprobs: number[] } {
    const { tokens, logprobs = [] } = this.queueSample(requests, true).take();
    return { tokens, logprobs };
  }

  /**
   * Samples like `sample` (and `sampleWithLogprobs` when `withLogprobs`) without waiting for
   * the device: `take()` waits for these tokens alone, so the next pass may be queued first.
   */
  queueSample(requests: readonly SampleRequest[], withLogprobs: boolean): QueuedSample {
    const ws = this.workspace;
    const rows = requests.length;
    this.sampleOnDevice(requests);
    if (withLogprobs) {
      this.ops.tokenLogprobs({
        out: ws.address('logprobs'),
        logits: ws.address('logits'),
        ids: ws.address('sampled'),
        temperature: ws.address('temperature'),
        rows,
        vocab: this.config.vocabSize,
        dtype: this.dtype,
      });
    }
    // sampled and logprobs lie close in the workspace: one download holds both.
    const logprobsAt = ws.address('logprobs') - ws.address('sampled');
    const bytes = withLogprobs ? logprobsAt + rows * 4 : rows * 4;
    const ticket = this.ops.queueDownload(ws.address('sampled'), bytes);
    return {
      take: () => {
        const span = new ArrayBuffer(bytes);
        this.ops.takeDownload(ticket, new Uint8Array(span));
        const tokens = Array.from(new Int32Array(span, 0, rows));
        if (!withLogprobs) return { tokens };
        return { tokens, logprobs: Array.from(new Float32Array(span, logprobsAt, rows)) };
      },
    };
  }

  /**
   * After `sample` (or `sampleWithLogprobs`): the log-probability of `ids[r]` in row r under the
   * distribution row r was sampled from (its temperature; raw logits when greedy), for every
   * sampled row: e.g. chosen token ids' logprobs (SGLang's token_ids_logprob).
   */
  sampledRowLogprobs(ids: readonly number[]): number[] {
    const rows = this.lastSampleRows;
    if (ids.length !== rows)
      throw new Error(`sampledRowLogprobs needs ${rows} ids, got ${ids.length}`);
    return this.logprobsOfRows(ids, 'temperature');
  }

  /**
   * `targets[r]`'s log-probability in row r of the logits, at the temperatures in `temperature`
   * (the sampling ones, or `rowZeros`: zeros uploaded with the targets, for the raw logits).
   */
  private logprobsOfRows(
    targets: readonly number[],
    temperature: 'rowZeros' | 'temperature',
  ): number[] {
    const ws = this.workspace;
    const rows = targets.length;
    const base = ws.address('rowTargets');
    const end = temperature === 'rowZeros' ? ws.address('rowZeros') + rows * 4 : base + rows * 4;
    const block = new ArrayBuffer(end - base);
    new Int32Array(block, 0, rows).set(targets);
    this.ops.upload(base, new Uint8Array(block));
    this.ops.tokenLogprobs({
      out: ws.address('rowLogprobs'),
      logits: ws.address('logits'),
      ids: base,
      temperature: ws.address(temperature),
      rows,
      vocab: this.config.vocabSize,
      dtype: this.dtype,
    });
    const out = new Float32Array(rows);
    this.ops.download(ws.address('rowLogprobs'), new Uint8Array(out.buffer));
    return Array.from(out);
  }

  /**
   * After `sample`: each sampled row's `k` most likely tokens and their log-probabilities under
   * the distribution it was sampled from, most likely first (ties: lower id first).
   */
  sampledTopLogprobs(k: number): { ids: number[][]; logprobs: number[][] } {
    const rows = this.lastSampleRows;
    if (!(Number.isInteger(k) && k >= 1 && k <= Math.min(MAX_TOP_LOGPROBS, this.config.vocabSize)))
      throw new Error(`top logprobs k must be in [1, ${MAX_TOP_LOGPROBS}], got ${k}`);
    const ws = this.workspace;
    this.ops.topLogprobs({
      outIds: ws.address('topIds'),
      outLogprobs: ws.address('topLogprobs'),
      logits: ws.address('logits'),
      temperature: ws.address('temperature'),
      rows,
      vocab: this.config.vocabSize,
      k,
      dtype: this.dtype,
    });
    // topIds and topLogprobs lie back to back: one download holds both.
    const span = new ArrayBuffer(ws.address('topLogprobs') + rows * k * 4 - ws.address('topIds'));
    this.ops.download(ws.address('topIds'), new Uint8Array(span));
    const ids = new Int32Array(span, 0, rows * k);
    const values = new Float32Array(
      span,
      ws.address('topLogprobs') - ws.address('topIds'),
      rows * k,
    );
    const rowsOf = <T extends Int32Array | Float32Array>(a: T) =>
      Array.from({ length: rows }, (_, r) => Array.from(a.subarray(r * k, (r + 1) * k)));
    return { ids: rowsOf(ids), logprobs: rowsOf(values) };
  }

  private sampleOnDevice(requests: readonly SampleRequest[]): void {
    this.lastRows();
    const rows = this.lastSampleRows;
    if (requests.length !== rows)
      throw new Error(`sample needs ${rows} requests, got ${requests.length}`);
    const ws = this.workspace;
    // randomKeys, temperature, topK, topP lie back to back in the workspace: one upload.
    const base = ws.address('randomKeys');
    const block = new ArrayBuffer(ws.address('topP') + rows * 4 - base);
    const at = (name: Parameters<Workspace['address']>[0]) => ws.address(name) - base;
    new BigUint64Array(block, 0, rows).set(
      requests.map((r) => samplingKey(r.spec.seed, r.tokenIndex)),
    );
    new Float32Array(block, at('temperature'), rows).set(requests.map((r) => r.spec.temperature));
    new Int32Array(block, at('topK'), rows).set(requests.map((r) => r.spec.topK));
    new Float32Array(block, at('topP'), rows).set(requests.map((r) => r.spec.topP));
    this.ops.upload(base, new Uint8Array(block));
    this.ops.sample({
      out: ws.address('sampled'),
      logits: ws.address('logits'),
      rows,
      vocab: this.config.vocabSize,
      temperature: ws.address('temperature'),
      topK: ws.address('topK'),
      topP: ws.address('topP'),
      randomKeys: ws.address('randomKeys'),
      dtype: this.dtype,
    });
  }

  async free(saver: MemorySaver): Promise<void> {
    await saver.free(this.workspace.allocation);
    await saver.free(this.constants);
  }

  /**
   * The padded batch size a decode step runs at, or null when it runs without a graph: not a
   * decode step, or one past the runner's limits (which the plain path then reports).
   */
  private decodeBucket(sequences: readonly ForwardSequence[]): number | null {
    const d = this.workspace.dims;
    const cap = Math.min(d.maxSeqs, d.maxTokens, d.maxLogitRows);
    const decode =
      sequences.length > 0 &&
      sequences.length <= cap &&
      sequences.every((s) => s.tokens.length === 1 && s.pageTable.length <= d.maxPagesPerSeq);
    return this.useGraphs && decode ? decodeBucket(sequences.length, cap) : null;
  }

  private lastRows(): number {
    if (this.lastRowCount === null) throw new Error('no forward pass has run');
    return this.lastRowCount;
  }
}
