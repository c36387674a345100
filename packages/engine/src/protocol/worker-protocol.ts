import type { MessagePort } from 'node:worker_threads';
import type { ReleaseReply, ResumeReply, SleepStatus } from '@ts/memory-occupation';
import type { ControlResult, PauseMode } from '@ts/pause';
import type { FinishReason, SamplingParams, StepStats } from '@ts/scheduler';
import type { FlushReply } from '../engine-api.js';
import type { TensorDtype, TensorInfo } from '../model/loader/tensor-source.js';
import type { NamedTensor } from '../model/weights/named-tensors.js';
import type { ResolvedOptions } from './options.js';

/** What a rank worker starts with (as `workerData`). */
export interface WorkerInit {
  /** The data-parallel rank. */
  rank: number;
  options: ResolvedOptions;
  tp: TpInit;
}

/** A worker's place in its tensor-parallel group (`options.tpSize` ranks, TP rank 0 leading). */
export interface TpInit {
  rank: number;
  /** The communicator group of this data-parallel rank's TP ranks (unique to the engine). */
  groupId: string;
  /** On the leader: a port to each peer, TP rank 1 first. */
  peers: MessagePort[];
  /** On a peer: its port to the leader. */
  leader: MessagePort | null;
}

export type ControlOp =
  | { op: 'release'; tags?: string[] }
  | { op: 'resume'; tags?: string[] }
  | { op: 'isSleeping' }
  | { op: 'pause'; mode: PauseMode }
  | { op: 'continue' }
  | { op: 'flush' }
  | { op: 'beginWeightUpdate' }
  | { op: 'endWeightUpdate' }
  | { op: 'updateWeightsFromDisk'; path: string }
  | { op: 'updateWeightsFromTensors'; tensors: NamedTensor[] }
  | { op: 'stats' };

export type ToWorker =
  /** `sampling` is checked (validateInput) and crosses as it is: structured clone keeps the bigint seed. */
  | { type: 'submit'; rid: string; inputIds: number[]; sampling: SamplingParams }
  | { type: 'abort'; rid: string }
  | { type: 'control'; id: number; control: ControlOp }
  | { type: 'shutdown' };

/** A rank's counters (`stats`): what `/metrics` and `/v1/loads` read. */
export interface RankStats extends ControlResult {
  /** Bytes each tag physically holds now. */
  residentBytes: Record<string, number>;
  waiting: number;
  running: number;
  /** Forward passes run so far (none runs while a tag is released: spec rules 1 and 11). */
  forwardPasses: number;
  /** KV pages the running requests hold, and the pool's pages. */
  usedPages: number;
  totalPages: number;
  /** Sums over the rank's forward passes: batch sizes, decode contexts, time in the executor. */
  steps: StepStats;
}

/**
 * The reply to each control op: the controller's own type, unchanged from the rank to the
 * wire (merged across ranks in `merge-replies.ts`, snake-cased at the HTTP edge).
 */
export interface ControlReplies {
  release: ReleaseReply;
  resume: ResumeReply;
  isSleeping: SleepStatus;
  pause: ControlResult;
  continue: ControlResult;
  flush: FlushReply;
  beginWeightUpdate: ControlResult;
  endWeightUpdate: ControlResult;
  updateWeightsFromDisk: ControlResult;
  updateWeightsFromTensors: ControlResult;
  stats: RankStats;
}

export type ControlOpName = ControlOp['op'];
/** The op of name `K`, and its reply. */
export type ControlOpOf<K extends ControlOpName> = Extract<ControlOp, { op: K }>;
export type ControlReply<K extends ControlOpName = ControlOpName> = ControlReplies[K];

export interface ReadyInfo {
  architecture: string;
  vocabSize: number;
  device: string;
  /** The dtype the rank computes in (`auto` resolved). */
  dtype: TensorDtype;
  numPages: number;
  /** The rank's running-batch limit (the one given, or the one derived from its KV pool). */
  maxRunning: number;
  eosTokenIds: number[];
  bosTokenId: number | null;
  /** Every parameter the model has, by name and shape (pushed tensors are checked against them). */
  weights: TensorInfo[];
}

/** A token of one request (or its end: `token` null with a finish reason). */
export interface TokenEvent {
  rid: string;
  token: number | null;
  finishReason: FinishReason | null;
  /** The token's log-probability, for requests that asked for it. */
  logprob?: number;
  /** On the first token: prompt tokens the prefix cache gave. */
  cachedTokens?: number;
  /** On the first token of a request with logprobStartLen: its prompt tokens' logprobs. */
  inputLogprobs?: number[];
  /** The request's token_ids_logprob ids' logprobs at this token's position. */
  tokenIdsLogprobs?: readonly number[];
  /** The request's topLogprobsNum most likely tokens at this token's position. */
  topLogprobs?: { ids: readonly number[]; logprobs: readonly number[] };
  error?: string;
}

export type FromWorker =
  | { type: 'progress'; loadedBytes: number; totalBytes: number }
  | { type: 'ready'; info: ReadyInfo }
  /** A tensor-parallel peer has built its pool and runner (the leader then reports `ready`). */
  | { type: 'peerReady' }
  | { type: 'failed'; message: string }
  /** The token events of one step (or one refusal), in one message. */
  | { type: 'tokens'; events: TokenEvent[] }
  | { type: 'reply'; id: number; reply: ControlReply };
