/**
 * Bodies and replies of the engine's HTTP API, as SGLang's server has them (snake_case), so
 * an RL framework written against SGLang needs no adapter. The server imports these too.
 */
import type * as z from 'zod';
import type { generateRequestSchema } from './generate-schema.js';
import type { samplingParamsSchema } from './sampling-schema.js';

/** Every control reply: a failure answers a 4xx with `success: false` and the reason. */
export interface ControlReply {
  success: boolean;
  message: string;
}

/** The engine's `DEFAULT_TAGS` (`@ts/memory-occupation`, which the client does not depend on). */
export type MemoryTag = 'weights' | 'kv_cache' | 'cuda_graph' | (string & {});

export interface MemoryOccupationRequest {
  /** Omitted (or null): every tag on release, the released tags on resume. */
  tags?: MemoryTag[] | null;
}

/*
 * The memory replies are the engine's `ReleaseReply`, `ResumeReply` and `SleepStatus`
 * (`@ts/memory-occupation`) merged over the data-parallel ranks, snake-cased and nothing else.
 * Their fields are missing only when the engine never saw the call (bad body or key, no
 * connection): then the reply is `{ success: false, message }` alone.
 */
export interface ReleaseMemoryReply extends ControlReply {
  /** The tags released after the call (all of them, not only this call's). */
  released_tags?: string[];
  /** Device bytes this call freed, summed over ranks. */
  freed_bytes?: number;
  /** How long the call took (the slowest rank's). */
  duration_ms?: number;
}

export interface ResumeMemoryReply extends ControlReply {
  /** The tags still released after the call. */
  released_tags?: string[];
  /** The tags this call resumed. */
  resumed_tags?: string[];
  /** The KV pools this call zeroed (spec rule 10). */
  repaired_pools?: string[];
  /** How long the call took (the slowest rank's). */
  duration_ms?: number;
}

/** `/flush_cache`: the engine's `FlushReply`, snake-cased. */
export interface FlushCacheReply extends ControlReply {
  /** Cached prefix pages dropped (summed over ranks); missing when the engine never saw the call. */
  freed_pages?: number;
}

export interface IsSleepingReply {
  is_sleeping: boolean;
  released_tags?: string[];
  /** Bytes each tag physically holds now, summed over ranks. */
  resident_bytes?: Record<string, number>;
}

/** `in_place` is SGLang's name of `keep`; `retract` frees running requests' KV and requeues them. */
export type PauseGenerationMode = 'abort' | 'wait' | 'keep' | 'in_place' | 'retract';

export interface PauseGenerationRequest {
  /** Default `abort`, as SGLang. */
  mode?: PauseGenerationMode;
}

export interface UpdateWeightsFromDiskRequest {
  /** A checkpoint directory or file the engine can read. */
  model_path: string;
  /** Names the new weights; generate replies carry it in `meta_info.weight_version`. */
  weight_version?: string;
}

/** `GET /get_weight_version`. */
export interface WeightVersionReply {
  weight_version: string;
}

/** `POST /update_weight_version`: names the current weights. */
export interface UpdateWeightVersionRequest {
  new_version: string;
  /** Abort every request first (default true, as SGLang). */
  abort_all_requests?: boolean;
}

/**
 * One request by id (or the n samples of that base rid), or (as SGLang has it) every request in
 * flight with `abort_all`; a rid the server does not hold aborts nothing and succeeds.
 */
export type AbortRequestRequest =
  | { rid: string; abort_all?: false }
  | { rid?: string; abort_all: true };

/**
 * `sampling_params` of `/generate`; every field optional (engine defaults: greedy). Inferred
 * from `samplingParamsSchema`, the one declaration, which the server parses bodies with.
 */
export type SamplingParams = z.input<typeof samplingParamsSchema>;

/**
 * `POST /generate`: exactly one of `text` and `input_ids`; a list of either is a batch.
 * Inferred from `generateRequestSchema`, the one declaration, which the server parses with.
 */
export type GenerateRequest = z.input<typeof generateRequestSchema>;

export interface SingleGenerateRequest extends GenerateRequest {
  text?: string;
  input_ids?: number[];
  sampling_params?: SamplingParams & { n?: 1 };
  rid?: string;
}

/** A list of prompts, or one prompt with `n` > 1: either way the reply is a list. */
export interface BatchGenerateRequest extends GenerateRequest {
  text?: string | string[];
  input_ids?: number[] | number[][];
  rid?: string | string[];
}

export type FinishReasonType = 'stop' | 'length' | 'abort';

export interface FinishReason {
  type: FinishReasonType;
  /** The stop token id or stop string that ended the output. */
  matched?: number | string;
  message?: string;
}

export interface GenerateMetaInfo {
  /** The request id. */
  id: string;
  prompt_tokens: number;
  /** Prompt tokens whose KV came from the prefix cache (SGLang's). */
  cached_tokens: number;
  completion_tokens: number;
  /** null while streaming, until the last update. */
  finish_reason: FinishReason | null;
  /** Seconds from submission to the last token. */
  e2e_latency: number;
  /** The weights' version when it ended (`default` before any named update). */
  weight_version: string;
  /**
   * With `return_logprob`: `[logprob, token id, text]` per output id, in order (SGLang's
   * shape; the text with `return_text_in_logprobs`, else null). The logprob is under
   * softmax(logits / temperature) for sampled requests, softmax(logits) for greedy ones.
   */
  output_token_logprobs?: [number, number, string | null][];
  /**
   * With `return_logprob` and `logprob_start_len` >= 0: `[logprob, token id, text]` per prompt
   * token from that index on (each given the tokens before it; null for the first token).
   */
  input_token_logprobs?: [number | null, number, string | null][];
  /** With `token_ids_logprob`: per output position, `[logprob, id, text]` for each asked id. */
  output_token_ids_logprobs?: [number, number, string | null][][];
  /** With `top_logprobs_num`: per output position, `[logprob, id, text]` most likely first. */
  output_top_logprobs?: [number, number, string | null][][];
}

/** The reply of `/generate`, and each streamed update (text and ids so far, cumulative). */
export interface GenerateReply {
  text: string;
  output_ids: number[];
  meta_info: GenerateMetaInfo;
}

/** A streamed update of a batch: `index` is the prompt's position in the batch. */
export interface BatchGenerateChunk extends GenerateReply {
  index: number;
}

/** `GET /model_info`. */
export interface ModelInfoReply {
  model_path: string;
  tokenizer_path: string;
  is_generation: true;
  /** The name `/v1/models` lists and the OpenAI routes answer with. */
  served_model_name: string;
  architecture: string;
  vocab_size: number;
  max_context: number;
  dtype: string;
  device: string;
  dp_size: number;
  has_chat_template: boolean;
  /** The weights' version (`default` before any update names one). */
  weight_version: string;
  /** SGLang's names: the architecture as a list, the model family, no multimodal input. */
  architectures: string[];
  model_type: string;
  has_image_understanding: false;
  has_audio_understanding: false;
  preferred_sampling_params: null;
}

/** `POST /tokenize`: the model's tokenizer on `prompt` (BOS included unless add_special_tokens false). */
export interface TokenizeReply {
  tokens: number[];
  count: number;
  max_model_len: number;
}

/** `POST /detokenize`: token ids back to text. */
export interface DetokenizeReply {
  text: string;
}

/** `GET /get_server_info` (also `/server_info`): how the engine serves, in SGLang's names. */
export interface ServerInfoReply {
  model_path: string;
  served_model_name: string;
  dp_size: number;
  /** Tensor-parallel ranks per data-parallel rank. */
  tp_size: number;
  page_size: number;
  max_running_requests: number;
  chunked_prefill_size: number;
  context_length: number;
  /** The fraction of free device memory the KV cache takes (not SGLang's mem_fraction_static). */
  kv_memory_fraction: number;
  /** Tokens one data-parallel rank's KV cache holds. */
  max_total_num_tokens: number;
  disable_radix_cache: boolean;
  disable_cuda_graph: boolean;
  disable_overlap_schedule: boolean;
  /** Launched with deterministic inference (SGLang's `--enable-deterministic-inference`). */
  enable_deterministic_inference: boolean;
  device: string;
  dtype: string;
  weight_version: string;
  /** The engine package's version. */
  version: string;
  // SGLang's ServerArgs fields that RL frameworks check (slime, miles) or routers read (smg).
  pp_size: 1;
  ep_size: 1;
  nnodes: 1;
  node_rank: 0;
  /** The address and port the server is bound to. */
  host: string;
  port: number;
  base_gpu_id: number;
  gpu_id_step: 1;
  /** Always true: releasing and resuming memory is what this engine is for. */
  enable_memory_saver: true;
  disaggregation_mode: 'null';
  load_balance_method: 'round_robin';
  /** SGLang's cap on KV tokens from the command line; none here (the pool is sized by fraction or pages). */
  max_total_tokens: null;
  tokenizer_path: string;
  random_seed: null;
  is_embedding: false;
  internal_states: { weight_version: string; is_sleeping: boolean }[];
}

/** The error body of the OpenAI-compatible routes (`/v1/...`). */
export interface OpenAIErrorReply {
  error: {
    message: string;
    type: string;
    param: string | null;
    code: string | number | null;
  };
}
