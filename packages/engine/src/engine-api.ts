import type { ReleaseReply, ResumeReply, SleepStatus } from '@ts/memory-occupation';
import type { ControlResult, PauseMode } from '@ts/pause';
import type { RankLoop, SamplingParams } from '@ts/scheduler';
import type { NamedTensor } from './model/weights/named-tensors.js';
import type { Switches } from './protocol/switches.js';

/**
 * Sampling as a caller states it: the internal `SamplingParams` (`@ts/scheduler`, the one
 * camelCase shape), every field optional (defaults: greedy, 128 new tokens), less the logprob
 * fields (those are `GenerateInput`'s own, as SGLang has them). Three fields take the forms a
 * caller has at hand: `seed` also a number (a safe integer), `logitBias` also a record of
 * token id -> bias, and `stop` also one string. Without a seed, each request draws its own
 * (so repeats differ).
 */
export type SamplingInput = Partial<
  Omit<SamplingParams, LogprobField | 'seed' | 'logitBias' | 'stop'>
> & {
  seed?: bigint | number;
  logitBias?: SamplingParams['logitBias'] | Readonly<Record<string, number>>;
  stop?: string | readonly string[];
};

/** The fields of `SamplingParams` a request gives at its top level, not in `samplingParams`. */
export type LogprobField =
  | 'returnLogprob'
  | 'logprobStartLen'
  | 'tokenIdsLogprob'
  | 'topLogprobsNum';

/**
 * One generate request. Its logprob fields (`returnLogprob`, `logprobStartLen`,
 * `tokenIdsLogprob`, `topLogprobsNum`) are `SamplingParams`' own, given at the top level as
 * SGLang has them; they fill `metaInfo.outputTokenLogprobs`, `inputTokenLogprobs`,
 * `outputTokenIdsLogprobs` and `outputTopLogprobs`, and the last three need `returnLogprob`.
 */
export interface GenerateInput extends Partial<Pick<SamplingParams, LogprobField>> {
  /** Exactly one of text and inputIds. */
  text?: string;
  inputIds?: number[];
  samplingParams?: SamplingInput;
  /** Request id; generated when omitted. */
  rid?: string;
  /** With `returnLogprob`: each entry also holds its token's text (decoded alone). */
  returnTextInLogprobs?: boolean;
  /** Run on this data-parallel rank (0-based) instead of the one the router picks. */
  dataParallelRank?: number;
}

export type FinishReasonType = 'stop' | 'length' | 'abort';

export interface GenerateMeta {
  id: string;
  promptTokens: number;
  /** Prompt tokens whose KV came from the prefix cache. */
  cachedTokens: number;
  completionTokens: number;
  /** null while streaming; `matched` is the stop token id or stop string. */
  finishReason: { type: FinishReasonType; matched?: number | string; message?: string } | null;
  /** Seconds from submission to the last token. */
  e2eLatency: number;
  /** The weights' version (`weightVersion` of the last update; `default` before any) when it ended. */
  weightVersion: string;
  /**
   * With `returnLogprob`: one `[logprob, token id, text]` per output id, in order; the text
   * is the token decoded alone with `returnTextInLogprobs`, else null.
   */
  outputTokenLogprobs?: [number, number, string | null][];
  /**
   * With `logprobStartLen`: one `[logprob, token id, text]` per prompt token from that index
   * on; the prompt's first token has no logprob (null).
   */
  inputTokenLogprobs?: [number | null, number, string | null][];
  /** With `tokenIdsLogprob`: per output position, `[logprob, id, text]` for each of those ids. */
  outputTokenIdsLogprobs?: [number, number, string | null][][];
  /** With `topLogprobsNum`: per output position, `[logprob, id, text]` most likely first. */
  outputTopLogprobs?: [number, number, string | null][][];
}

/** How a caller may end its own requests: aborting the signal aborts exactly what it submitted. */
export interface RequestOptions {
  signal?: AbortSignal;
}

export interface GenerateOutput {
  text: string;
  outputIds: number[];
  metaInfo: GenerateMeta;
}

/** One streamed update: the text and ids so far (cumulative, as SGLang streams them). */
export type GenerateChunk = GenerateOutput;

/** `flushCache`'s reply: the rank loop's own, with the cached pages it dropped (summed over ranks). */
export type FlushReply = ReturnType<RankLoop['flushCache']>;

export interface ModelInfo {
  modelPath: string;
  architecture: string;
  vocabSize: number;
  maxContext: number;
  /**
   * The most text (UTF-16 units) one token of the tokenizer stands for: a text longer than
   * maxContext × this cannot be a prompt. Absent without a tokenizer or such a bound.
   */
  maxTextPerToken?: number;
  dtype: string;
  device: string;
  dpSize: number;
  /** Tensor-parallel ranks per data-parallel rank. */
  tpSize: number;
  /** True when a chat template is available (`/v1/chat/completions`). */
  hasChatTemplate: boolean;
  /** How it serves: the scheduler's limits and switches. */
  serving: ServingLimits;
}

export interface ServingLimits {
  pageSize: number;
  maxRunning: number;
  maxBatchTokens: number;
  kvMemoryFraction: number;
  /** Tokens one rank's KV cache holds (its pages × page size). */
  maxTotalTokens: number;
  /** The on/off options it was launched with. */
  switches: Switches;
}

export interface ChatMessageInput {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string;
}

/** One data-parallel rank's load (SGLang's `/v1/loads` entry). */
export interface RankLoad {
  rank: number;
  runningRequests: number;
  waitingRequests: number;
  /** KV tokens the running requests hold, and the pool's capacity. */
  usedTokens: number;
  totalTokens: number;
  /** Tokens this rank has generated since start. */
  generatedTokensTotal: number;
  /** Prompt tokens it was given, and those of them its prefix cache held (a hit rate). */
  promptTokensTotal: number;
  cachedTokensTotal: number;
  maxRunningRequests: number;
}

/** A snapshot for `/metrics`. */
export interface EngineMetrics {
  isSleeping: boolean;
  /** Bytes each memory tag physically holds, summed over ranks. */
  residentBytesByTag: Record<string, number>;
  releaseSeconds: number[];
  resumeSeconds: number[];
  waitingRequests: number;
  runningRequests: number;
  promptTokensTotal: number;
  generatedTokensTotal: number;
  requestsTotal: number;
  /** Requests that ended with finish reason `abort`. */
  abortedRequestsTotal: number;
  /** Forward passes of all ranks: flat while the engine sleeps. */
  forwardPassesTotal: number;
  /** KV tokens running requests hold, and the pools' capacity, over all ranks. */
  usedTokens: number;
  totalTokens: number;
  /** Each rank's own numbers. */
  ranks: RankLoad[];
}

/**
 * The in-process API of a running engine; the HTTP server is a thin layer over it. Every
 * control call answers `{ success, message }` and never throws; `generate` rejects only on
 * bad input (with a message fit for a 400).
 */
export interface EngineApi {
  /** A request refused here (bad input, a rid in flight) touches no other request. */
  generate(input: GenerateInput, options?: RequestOptions): Promise<GenerateOutput>;
  /** Yields cumulative updates, the last with `metaInfo.finishReason`; stopping early aborts. */
  generateStream(input: GenerateInput, options?: RequestOptions): AsyncIterable<GenerateChunk>;
  /**
   * The control call: aborts request `rid`, or where none has that rid, its n samples
   * (`<rid>-0`, `<rid>-1`, ...). Succeeds when nothing matches (as SGLang's does); the
   * message says what was aborted.
   */
  abortRequest(rid: string): Promise<ControlResult>;
  /** Ends every request in flight with finish reason `abort`; says how many. */
  abortAllRequests(): Promise<ControlResult & { abortedRequests: number }>;
  /**
   * Renders a chat with the model's template (throws if it has none); `variables` are more
   * template variables (e.g. Qwen3's `enable_thinking`).
   */
  applyChatTemplate(
    messages: ChatMessageInput[],
    addGenerationPrompt: boolean,
    variables?: Readonly<Record<string, unknown>>,
  ): string;
  /**
   * The model's tokenizer on text, as a prompt would be encoded (rejects if it has none, and
   * with a 413 for a text longer than any prompt can be); long texts off the main thread.
   */
  tokenize(text: string, addSpecialTokens?: boolean): Promise<number[]>;
  /** Token ids back to text (throws if the model has no tokenizer or an id is out of range). */
  detokenize(ids: readonly number[], skipSpecialTokens?: boolean): string;

  /** The memory controller's replies, merged over the data-parallel ranks (spec rule 11). */
  releaseMemoryOccupation(input?: { tags?: string[] }): Promise<ReleaseReply>;
  resumeMemoryOccupation(input?: { tags?: string[] }): Promise<ResumeReply>;
  isSleeping(): Promise<SleepStatus>;
  pauseGeneration(input?: { mode?: PauseMode }): Promise<ControlResult>;
  continueGeneration(): Promise<ControlResult>;
  flushCache(): Promise<FlushReply>;
  updateWeightsFromDisk(input: {
    modelPath: string;
    weightVersion?: string;
  }): Promise<ControlResult>;
  /** Throws, naming each problem, unless the model has parameters of these names and shapes. */
  checkTensorHeaders(headers: readonly { name: string; shape: readonly number[] }[]): void;
  /** Replaces the named weights (all or some) with tensors from memory; checked before any write. */
  updateWeightsFromTensors(input: {
    tensors: NamedTensor[];
    weightVersion?: string;
  }): Promise<ControlResult>;
  /**
   * A weight-update session (SGLang's, as miles drives it): from begin to end no forward pass
   * starts on any rank, so several update calls land as one. Begin fails while one is open.
   */
  beginWeightUpdate(): Promise<ControlResult>;
  endWeightUpdate(): Promise<ControlResult>;
  /** The version the last successful update named (`default` before any). */
  weightVersion(): string;
  /** Names the current weights `newVersion` (SGLang's `/update_weight_version`), aborting every request first unless told not to. */
  updateWeightVersion(input: {
    newVersion: string;
    abortAllRequests?: boolean;
  }): Promise<ControlResult>;

  modelInfo(): ModelInfo;
  metrics(): Promise<EngineMetrics>;
  shutdown(): Promise<void>;
}
