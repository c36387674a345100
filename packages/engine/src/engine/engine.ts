import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import type { ReleaseReply, ResumeReply, SleepStatus } from '@ts/memory-occupation';
import { cudaDeviceCount } from '@ts/memory-saver-native';
import type { ControlResult, PauseMode } from '@ts/pause';
import type { StepStats } from '@ts/scheduler';
import type {
  ChatMessageInput,
  EngineApi,
  EngineMetrics,
  FinishReasonType,
  FlushReply,
  GenerateChunk,
  GenerateInput,
  GenerateOutput,
  ModelInfo,
  RequestOptions,
} from '../engine-api.js';
import type { NamedTensor } from '../model/weights/named-tensors.js';
import { failedReply, mergeReplies } from '../protocol/merge-replies.js';
import type { LaunchOptions, ResolvedOptions } from '../protocol/options.js';
import { switchesOf } from '../protocol/switches.js';
import type {
  ControlOpName,
  ControlOpOf,
  ControlReply,
  ReadyInfo,
  TokenEvent,
  WorkerInit,
} from '../protocol/worker-protocol.js';
import { stepTrace } from '../trace/step-trace.js';
import { checkTextFits, kvPoolRefusal } from './input-limits.js';
import { resolveOptions } from './launch-options.js';
import { loadModelTokenizer, type ModelTokenizer } from './model-tokenizer.js';
import { PromptEncoder } from './prompt-encoder.js';
import { PromptRouter } from './prompt-router.js';
import { RankHandle } from './rank-handle.js';
import { RequestState } from './request-state.js';
import { checkTensorHeaders, type TensorHeader } from './tensor-header-check.js';
import { TokenizerThread } from './tokenizer-thread.js';
import { checkModelSplits, groupInits } from './tp-launch.js';
import { PeerHandle } from './tp-peer-handle.js';
import {
  InvalidInputError,
  rankSampling,
  type ValidInput,
  validateInput,
} from './validate-input.js';
import { WeightsApart } from './weights-apart.js';

/** The rank worker's entry, resolved through this package's exports (dist/rank/rank-worker.js). */
function workerUrl(): URL {
  return pathToFileURL(createRequire(import.meta.url).resolve('@ts/engine/rank-worker'));
}

/** A weight version, when given, is a non-empty string. */
function checkWeightVersion(version: unknown): ControlResult | null {
  if (version === undefined || (typeof version === 'string' && version !== '')) return null;
  return { success: false, message: 'weightVersion must be a non-empty string' };
}

/**
 * A running engine: one worker thread per data-parallel rank, the tokenizer here. Control
 * calls go to every rank and wait for exactly as many replies (spec rule 11).
 */
export class Engine implements EngineApi {
  private version = 'default';
  private readonly requests = new Map<
    string,
    { state: RequestState; rank: RankHandle; promptKey: string; detach: () => void }
  >();
  private router: PromptRouter<RankHandle> = new PromptRouter([]);
  private readonly releaseSeconds: number[] = [];
  private readonly resumeSeconds: number[] = [];
  private totals = { requests: 0, promptTokens: 0, generatedTokens: 0, aborted: 0 };
  private ranks: RankHandle[] = [];
  /** Tensor-parallel peers (TP ranks > 0): their leaders in `ranks` speak for them. */
  private peers: PeerHandle[] = [];
  private info: ReadyInfo | null = null;
  private weightsApart = new WeightsApart([]);
  /** Each rank's KV pool, in pages. */
  private rankPages: number[] = [];
  /** Each rank's running-batch limit. */
  private rankMaxRunning: number[] = [];
  private closed = false;
  /** Requests whose prompts are being tokenized (not at a rank yet), and whether aborted since. */
  private readonly admitting = new Map<string, { aborted: boolean }>();
  /** The tokenizer for prompts: long texts are encoded in a thread of their own. */
  private readonly encoder: PromptEncoder | null;

  private constructor(
    readonly options: ResolvedOptions,
    private readonly model: ModelTokenizer,
  ) {
    this.encoder = model.tokenizer
      ? new PromptEncoder(model.tokenizer, new TokenizerThread(options.model, { eager: true }))
      : null;
  }

  static async launch(launch: LaunchOptions): Promise<Engine> {
    const options = resolveOptions(launch, launch.device === 'cpu' ? 0 : cudaDeviceCount());
    await checkModelSplits(options);
    const engine = new Engine(options, await loadModelTokenizer(options.model));
    const url = workerUrl();
    const groups = Array.from({ length: options.dpSize }, (_, r) => groupInits(r, options));
    const progress = (r: number) => (loaded: number, total: number) =>
      launch.onProgress?.(r, loaded, total);
    engine.ranks = groups.map(
      ([leader], r) =>
        new RankHandle(
          leader as WorkerInit,
          url,
          (m) => engine.onToken(m),
          progress(r),
          (reason) => engine.onRankGone(r, reason),
        ),
    );
    engine.peers = groups.flatMap(([, ...peers], r) =>
      peers.map(
        (init) => new PeerHandle(init, url, progress(r), (why) => engine.onPeerGone(r, why)),
      ),
    );
    engine.router = new PromptRouter(engine.ranks);
    try {
      const [infos] = await Promise.all([
        Promise.all(engine.ranks.map((r) => r.ready)),
        Promise.all(engine.peers.map((p) => p.ready)),
      ]);
      engine.info = infos[0] ?? null;
      engine.weightsApart = new WeightsApart(engine.info?.weights.map((w) => w.name) ?? []);
      engine.rankPages = infos.map((info) => info.numPages);
      engine.rankMaxRunning = infos.map((info) => info.maxRunning);
    } catch (error) {
      await engine.shutdown();
      throw error;
    }
    return engine;
  }

  async generate(input: GenerateInput, options: RequestOptions = {}): Promise<GenerateOutput> {
    return (await this.submit(input, options.signal)).result();
  }

  async *generateStream(
    input: GenerateInput,
    options: RequestOptions = {},
  ): AsyncIterable<GenerateChunk> {
    const state = await this.submit(input, options.signal);
    try {
      yield* state.updates();
    } finally {
      if (!state.done) this.abortOwn(state);
    }
  }

  async abortAllRequests(): Promise<ControlResult & { abortedRequests: number }> {
    const rids = this.heldRids();
    for (const rid of rids) this.abortRid(rid);
    return {
      success: true,
      message: `aborting ${rids.length} requests`,
      abortedRequests: rids.length,
    };
  }

  async abortRequest(rid: string): Promise<ControlResult> {
    const held = this.heldRids();
    const rids = held.includes(rid) ? [rid] : samplesOf(rid, held);
    if (rids.length === 0)
      return { success: true, message: `no request ${rid} in flight: nothing aborted` };
    for (const r of rids) this.abortRid(r);
    return { success: true, message: `aborting ${rids.join(', ')}` };
  }

  /** Every request in flight: at a rank, or its prompt still being tokenized. */
  private heldRids(): string[] {
    return [...this.requests.keys(), ...this.admitting.keys()];
  }

  /** Aborts `rid` at its rank; one still being tokenized ends with `abort` once it is. */
  private abortRid(rid: string): void {
    const admitting = this.admitting.get(rid);
    if (admitting) admitting.aborted = true;
    this.requests.get(rid)?.rank.post({ type: 'abort', rid });
  }

  /** Aborts the request `state` stands for, if it is still the one in flight under its rid. */
  private abortOwn(state: RequestState): void {
    const request = this.requests.get(state.rid);
    if (request?.state === state) request.rank.post({ type: 'abort', rid: state.rid });
  }

  /** A text longer than any prompt of the context is refused (413) without tokenizing it. */
  async tokenize(text: string, addSpecialTokens = true): Promise<number[]> {
    const encoder = this.encoder;
    if (!encoder) throw new InvalidInputError('this model has no tokenizer');
    checkTextFits(text, encoder.tokenizer, this.options.maxContext);
    return encoder.encode(text, addSpecialTokens);
  }

  detokenize(ids: readonly number[], skipSpecialTokens = false): string {
    const tokenizer = this.requireTokenizer();
    const bad = ids.find((id) => !Number.isInteger(id) || id < 0 || id >= tokenizer.vocabSize);
    if (bad !== undefined)
      throw new InvalidInputError(
        `token id ${bad} is outside the vocabulary [0, ${tokenizer.vocabSize})`,
      );
    return tokenizer.decode(ids, { skipSpecialTokens });
  }

  private requireTokenizer() {
    const tokenizer = this.model.tokenizer;
    if (!tokenizer) throw new InvalidInputError('this model has no tokenizer');
    return tokenizer;
  }

  applyChatTemplate(
    messages: ChatMessageInput[],
    addGenerationPrompt: boolean,
    variables?: Readonly<Record<string, unknown>>,
  ): string {
    if (!this.model.applyChatTemplate) throw new Error('this model has no chat template');
    return this.model.applyChatTemplate(messages, addGenerationPrompt, variables);
  }

  async releaseMemoryOccupation(input: { tags?: string[] } = {}): Promise<ReleaseReply> {
    const reply = await this.control({
      op: 'release',
      ...(input.tags ? { tags: input.tags } : {}),
    });
    if (reply.success) this.releaseSeconds.push(reply.durationMs / 1000);
    return reply;
  }

  async resumeMemoryOccupation(input: { tags?: string[] } = {}): Promise<ResumeReply> {
    const reply = await this.control({ op: 'resume', ...(input.tags ? { tags: input.tags } : {}) });
    if (reply.success) this.resumeSeconds.push(reply.durationMs / 1000);
    return reply;
  }

  isSleeping(): Promise<SleepStatus> {
    return this.control({ op: 'isSleeping' });
  }

  async pauseGeneration(input: { mode?: PauseMode } = {}): Promise<ControlResult> {
    return this.result(await this.control({ op: 'pause', mode: input.mode ?? 'abort' }));
  }

  async continueGeneration(): Promise<ControlResult> {
    return this.result(await this.control({ op: 'continue' }));
  }

  flushCache(): Promise<FlushReply> {
    return this.control({ op: 'flush' });
  }

  async updateWeightsFromDisk(input: {
    modelPath: string;
    weightVersion?: string;
  }): Promise<ControlResult> {
    if (typeof input?.modelPath !== 'string' || input.modelPath === '') {
      return { success: false, message: 'modelPath must be a checkpoint path' };
    }
    const bad = checkWeightVersion(input.weightVersion);
    if (bad) return bad;
    const reply = await this.update({ op: 'updateWeightsFromDisk', path: input.modelPath }, null);
    return this.versioned(reply, input.weightVersion);
  }

  weightVersion(): string {
    return this.version;
  }

  async beginWeightUpdate(): Promise<ControlResult> {
    return this.result(await this.control({ op: 'beginWeightUpdate' }));
  }

  async endWeightUpdate(): Promise<ControlResult> {
    return this.result(await this.control({ op: 'endWeightUpdate' }));
  }

  async updateWeightVersion(input: {
    newVersion: string;
    abortAllRequests?: boolean;
  }): Promise<ControlResult> {
    const bad = checkWeightVersion(input?.newVersion);
    if (bad || input.newVersion === undefined)
      return { success: false, message: 'newVersion must be a non-empty string' };
    if (this.closed) return { success: false, message: 'the engine is shut down' };
    const aborted = input.abortAllRequests === false ? null : await this.abortAllRequests();
    this.version = input.newVersion;
    const message = `weight version is ${input.newVersion}`;
    return { success: true, message: aborted ? `${message}; ${aborted.message}` : message };
  }

  /**
   * Replaces the named weights (all of them, or some) with tensors from memory, on every rank
   * (each gets a copy). Names, shapes and dtypes are checked before anything is written; a
   * mismatch fails and keeps the old weights. Allowed while kv_cache is released.
   */
  async updateWeightsFromTensors(input: {
    tensors: NamedTensor[];
    weightVersion?: string;
  }): Promise<ControlResult> {
    if (!Array.isArray(input?.tensors))
      return { success: false, message: 'tensors must be an array of named tensors' };
    const bad = checkWeightVersion(input.weightVersion);
    if (bad) return bad;
    const reply = await this.update(
      { op: 'updateWeightsFromTensors', tensors: sharedTensors(input.tensors) },
      input.tensors.map((t) => t?.name),
    );
    return this.versioned(reply, input.weightVersion);
  }

  checkTensorHeaders(headers: readonly TensorHeader[]): void {
    checkTensorHeaders(this.info?.weights ?? [], headers);
  }

  modelInfo(): ModelInfo {
    return {
      modelPath: this.options.model,
      architecture: this.info?.architecture ?? 'unknown',
      vocabSize: this.info?.vocabSize ?? 0,
      maxContext: this.options.maxContext,
      maxTextPerToken: this.encoder?.tokenizer.maxTextPerToken,
      dtype: this.info?.dtype ?? this.options.dtype,
      device: this.info?.device ?? 'unknown',
      dpSize: this.options.dpSize,
      tpSize: this.options.tpSize,
      hasChatTemplate: this.model.applyChatTemplate !== null,
      serving: {
        pageSize: this.options.pageSize,
        // Per rank, as each runs it; the smallest where ranks differ (their pools do).
        maxRunning: Math.min(...this.rankMaxRunning),
        maxBatchTokens: this.options.maxBatchTokens,
        kvMemoryFraction: this.options.kvMemoryFraction,
        maxTotalTokens: (this.info?.numPages ?? 0) * this.options.pageSize,
        switches: switchesOf(this.options),
      },
    };
  }

  async metrics(): Promise<EngineMetrics> {
    const [perRank, sleep] = await Promise.all([
      this.closed ? [] : Promise.all(this.ranks.map((r) => r.control({ op: 'stats' }))),
      this.control({ op: 'isSleeping' }),
    ]);
    const stats = mergeReplies('stats', perRank.length > 0 ? perRank : [failedReply('stats', '')]);
    const pageSize = this.options.pageSize;
    return {
      isSleeping: sleep.isSleeping,
      residentBytesByTag: stats.residentBytes,
      releaseSeconds: [...this.releaseSeconds],
      resumeSeconds: [...this.resumeSeconds],
      waitingRequests: stats.waiting,
      runningRequests: stats.running,
      promptTokensTotal: this.totals.promptTokens,
      generatedTokensTotal: this.totals.generatedTokens,
      requestsTotal: this.totals.requests,
      abortedRequestsTotal: this.totals.aborted,
      forwardPassesTotal: stats.forwardPasses,
      usedTokens: stats.usedPages * pageSize,
      totalTokens: stats.totalPages * pageSize,
      ranks: perRank.map((r, rank) => ({
        rank,
        runningRequests: r.running,
        waitingRequests: r.waiting,
        usedTokens: r.usedPages * pageSize,
        totalTokens: r.totalPages * pageSize,
        generatedTokensTotal: this.ranks[rank]?.generatedTokens ?? 0,
        promptTokensTotal: this.ranks[rank]?.promptTokens ?? 0,
        cachedTokensTotal: this.ranks[rank]?.cachedTokens ?? 0,
        maxRunningRequests: this.rankMaxRunning[rank] ?? 0,
      })),
    };
  }

  /**
   * Sums over every forward pass of every rank so far (batch sizes, decode contexts, time in
   * forward passes and sampling): two reads subtract to a span's. Zeros once shut down.
   */
  async stepStats(): Promise<StepStats> {
    const reply = await this.control({ op: 'stats' });
    return reply.steps;
  }

  async shutdown(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const { state } of this.requests.values())
      state.end('abort', undefined, 'the engine shut down');
    this.requests.clear();
    await Promise.all([
      ...this.ranks.map((r) => r.shutdown()),
      ...this.peers.map((p) => p.shutdown()),
      this.encoder?.close(),
    ]);
  }

  /**
   * Checks and tokenizes a request (a long text off the main thread), then sends it to its
   * rank. Its rid counts as in flight from the start; an abort while it is tokenized ends it
   * with `abort` before it reaches a rank.
   */
  private async submit(
    input: GenerateInput,
    signal: AbortSignal | undefined,
  ): Promise<RequestState> {
    if (this.closed) throw new Error('the engine is shut down');
    if (signal?.aborted) throw new Error('the request was cancelled before it started');
    const apart = this.weightsApart.refusal();
    if (apart) throw new WeightsApartError(apart);
    const rid = input.rid ?? randomUUID();
    if (this.requests.has(rid) || this.admitting.has(rid))
      throw new Error(`a request with rid ${rid} is already in flight`);
    const { valid, aborted } = await this.admit(rid, input, signal);
    const tokenizer = this.model.tokenizer;
    const { sampling } = valid;
    const state = new RequestState(rid, valid.inputIds.length, tokenizer, {
      stops: sampling.stop,
      skipSpecialTokens: sampling.skipSpecialTokens,
      noStopTrim: sampling.noStopTrim,
      dropsOutput: sampling.maxNewTokens === 0,
      weightVersion: () => this.version,
      returnLogprob: sampling.returnLogprob,
      returnTextInLogprobs: valid.returnTextInLogprobs,
      ...(sampling.tokenIdsLogprob.length > 0 ? { tokenIdsLogprob: sampling.tokenIdsLogprob } : {}),
      ...(sampling.topLogprobsNum > 0 ? { topLogprobsNum: sampling.topLogprobsNum } : {}),
      ...(sampling.logprobStartLen >= 0
        ? { inputLogprobsOf: { promptIds: valid.inputIds, start: sampling.logprobStartLen } }
        : {}),
    });
    if (aborted) {
      state.end('abort', undefined, 'aborted before it reached a rank');
      return state;
    }
    const { rank, key } = this.router.pick(valid.inputIds, input.dataParallelRank);
    const refusal = rank.gone
      ? new RankGoneError(`rank ${rank.rank} cannot serve: ${rank.gone}`)
      : kvPoolRefusal(
          { inputIds: valid.inputIds, maxNewTokens: sampling.maxNewTokens },
          this.options.pageSize,
          rank.rank,
          this.rankPages[rank.rank] ?? 0,
        );
    if (refusal) {
      this.router.done(key);
      throw refusal;
    }
    rank.inFlight += 1;
    const onAbort = () => this.abortOwn(state);
    signal?.addEventListener('abort', onAbort, { once: true });
    const detach = () => signal?.removeEventListener('abort', onAbort);
    this.requests.set(rid, { state, rank, promptKey: key, detach });
    this.totals.requests += 1;
    this.totals.promptTokens += valid.inputIds.length;
    rank.promptTokens += valid.inputIds.length;
    stepTrace(`submit ${rid}`);
    rank.post({
      type: 'submit',
      rid,
      inputIds: valid.inputIds,
      sampling: rankSampling(sampling, tokenizer, this.info),
    });
    return state;
  }

  /**
   * The request checked and its prompt tokenized, its rid held meanwhile; `aborted` when
   * abortRequest, abortAllRequests or the caller's signal ended it in the meantime.
   */
  private async admit(
    rid: string,
    input: GenerateInput,
    signal: AbortSignal | undefined,
  ): Promise<{ valid: ValidInput; aborted: boolean }> {
    const admission = { aborted: false };
    const onAbort = () => {
      admission.aborted = true;
    };
    this.admitting.set(rid, admission);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const valid = await validateInput(
        input,
        this.encoder,
        this.info?.vocabSize ?? 0,
        this.options.maxContext,
        this.ranks.length,
        this.options.maxInputLogprobRows,
      );
      if (this.closed) throw new Error('the engine is shut down');
      return { valid, aborted: admission.aborted };
    } catch (error) {
      throw this.closed ? new Error('the engine is shut down') : error;
    } finally {
      this.admitting.delete(rid);
      signal?.removeEventListener('abort', onAbort);
    }
  }

  private onToken(message: TokenEvent): void {
    const request = this.requests.get(message.rid);
    if (!request) return;
    const { state, rank } = request;
    if (message.token !== null) {
      if (state.ids.length === 0) stepTrace(`first token of ${message.rid}`);
      this.totals.generatedTokens += 1;
      rank.generatedTokens += 1;
      if (message.inputLogprobs) state.setInputLogprobs(message.inputLogprobs);
      if (message.cachedTokens !== undefined) {
        state.cachedTokens = message.cachedTokens;
        rank.cachedTokens += message.cachedTokens;
      }
      const stop = state.push(message.token, {
        ...(message.logprob !== undefined ? { logprob: message.logprob } : {}),
        ...(message.tokenIdsLogprobs ? { chosen: message.tokenIdsLogprobs } : {}),
        ...(message.topLogprobs ? { top: message.topLogprobs } : {}),
      });
      if (stop !== null) {
        rank.post({ type: 'abort', rid: message.rid });
        this.finish(message.rid, 'stop', () => state.end('stop', stop));
        return;
      }
    }
    if (message.finishReason) {
      const matched =
        message.finishReason === 'stop' && message.token !== null ? message.token : undefined;
      const reason = message.finishReason;
      this.finish(message.rid, reason, () => state.end(reason, matched, message.error));
    }
  }

  /**
   * A tensor-parallel peer of rank `rank` is gone: the rank takes no new request and its
   * requests end now with the reason (its collectives fail without the peer).
   */
  private onPeerGone(rank: number, reason: string): void {
    if (this.closed) return;
    this.ranks[rank]?.markBroken(reason);
    this.onRankGone(rank, reason);
  }

  /** A rank's worker died: each of its requests ends now, with the reason (never a hang). */
  private onRankGone(rank: number, reason: string): void {
    for (const [rid, request] of [...this.requests]) {
      if (request.rank.rank !== rank) continue;
      this.finish(rid, 'abort', () => request.state.end('abort', undefined, reason));
    }
  }

  private finish(rid: string, reason: FinishReasonType, end: () => void): void {
    const request = this.requests.get(rid);
    if (!request) return;
    if (reason === 'abort') this.totals.aborted += 1;
    this.requests.delete(rid);
    request.detach();
    request.rank.inFlight -= 1;
    this.router.done(request.promptKey);
    end();
  }

  /** Op `control` on every rank, the replies merged (spec rule 11). */
  private async control<K extends ControlOpName>(
    control: ControlOpOf<K>,
  ): Promise<ControlReply<K>> {
    const op = control.op as K;
    if (this.closed) return failedReply(op, 'the engine is shut down');
    return mergeReplies(op, await this.eachRank(control));
  }

  /** Op `control` on every rank: the replies, in rank order. */
  private eachRank<K extends ControlOpName>(control: ControlOpOf<K>): Promise<ControlReply<K>[]> {
    return Promise.all(this.ranks.map((r) => r.control(control)));
  }

  /** A weight update on every rank, of `names` (null: every weight); the ranks it leaves apart are counted. */
  private async update(
    control: ControlOpOf<'updateWeightsFromDisk'> | ControlOpOf<'updateWeightsFromTensors'>,
    names: readonly string[] | null,
  ): Promise<ControlResult> {
    if (this.closed) return { success: false, message: 'the engine is shut down' };
    const replies: ControlResult[] = await this.eachRank<typeof control.op>(control);
    // Some ranks took it and others not: a fault of those ranks alone. They try once more (an
    // update writes the same bytes again), so a passing fault leaves no rank apart.
    let notes = '';
    if (replies.some((r) => r.success)) {
      for (const [rank, handle] of this.ranks.entries()) {
        const first = replies[rank] as ControlResult;
        if (first.success) continue;
        replies[rank] = await handle.control<typeof control.op>(control);
        if (replies[rank]?.success)
          notes += `; rank ${rank} took it on a second try (first: ${first.message})`;
      }
    }
    const merged = mergeReplies(control.op, replies);
    return { ...merged, message: merged.message + notes + this.weightsApart.after(replies, names) };
  }

  /** An update's reply; when every rank took it, its version (if named) becomes current. */
  private versioned(reply: ControlResult, version: string | undefined): ControlResult {
    if (reply.success && version !== undefined) this.version = version;
    return this.result(reply);
  }

  private result(reply: ControlResult): ControlResult {
    return { success: reply.success, message: reply.message };
  }
}

/** A request while the ranks hold different weights: the server answers 503. */
class WeightsApartError extends Error {
  readonly statusCode = 503;
}

/** A request for a rank whose worker is gone: the server answers 503. */
class RankGoneError extends Error {
  readonly statusCode = 503;
}

/** The n samples of base rid `rid` (`<rid>-0`, `<rid>-1`, ..., as `/generate` names them) among `rids`. */
function samplesOf(rid: string, rids: Iterable<string>): string[] {
  const prefix = `${rid}-`;
  return [...rids].filter((r) => r.startsWith(prefix) && /^\d+$/.test(r.slice(prefix.length)));
}

/**
 * The tensors with their bytes copied once into one SharedArrayBuffer, so every rank's worker
 * reads the same memory: posting plain buffers would copy all of them to each rank (dp-size
 * copies of the model). Entries whose data is not bytes pass as they are, for the worker to
 * refuse by name.
 */
function sharedTensors(tensors: NamedTensor[]): NamedTensor[] {
  if (tensors.every((t) => t?.data?.buffer instanceof SharedArrayBuffer)) return tensors;
  const bytes = (t: NamedTensor) => (t?.data instanceof Uint8Array ? t.data.byteLength : 0);
  const shared = new Uint8Array(new SharedArrayBuffer(tensors.reduce((n, t) => n + bytes(t), 0)));
  let at = 0;
  return tensors.map((t) => {
    if (t?.ipc !== undefined || !(t?.data instanceof Uint8Array)) return t;
    const view = shared.subarray(at, at + t.data.byteLength);
    view.set(t.data);
    at += t.data.byteLength;
    return { ...t, data: view };
  });
}
