import { Transport, type TransportOptions } from './transport.js';
import type {
  AbortRequestRequest,
  BatchGenerateChunk,
  BatchGenerateRequest,
  ControlReply,
  DetokenizeReply,
  FlushCacheReply,
  GenerateReply,
  IsSleepingReply,
  MemoryOccupationRequest,
  ModelInfoReply,
  PauseGenerationRequest,
  ReleaseMemoryReply,
  ResumeMemoryReply,
  ServerInfoReply,
  SingleGenerateRequest,
  TokenizeReply,
  UpdateWeightsFromDiskRequest,
  UpdateWeightVersionRequest,
  WeightVersionReply,
} from './wire.js';
import type { ModelList } from './wire-openai.js';

export type EngineClientOptions = TransportOptions;

export interface RequestOptions {
  /** Aborting it closes the connection; the server then aborts the request. */
  signal?: AbortSignal;
}

/**
 * A typed client of the engine's HTTP API (SGLang's names and shapes), for Node and
 * browsers. Control calls never throw: a transport failure or an error status comes back as
 * `{ success: false, message }` with the server's message. Generation and info calls throw
 * `EngineClientError` (the server's message and the HTTP status). For `/v1/...` use the
 * official `openai` package with `baseURL: <baseUrl>/v1`.
 */
export class EngineClient {
  private readonly http: Transport;

  constructor(options: EngineClientOptions) {
    this.http = new Transport(options);
  }

  /** `POST /generate` for one prompt. */
  generate(body: SingleGenerateRequest, options: RequestOptions = {}): Promise<GenerateReply> {
    return this.http.json('POST', '/generate', { ...body, stream: false }, options.signal);
  }

  /** `POST /generate` for a list of prompts, run concurrently; replies in prompt order. */
  generateBatch(
    body: BatchGenerateRequest,
    options: RequestOptions = {},
  ): Promise<GenerateReply[]> {
    return this.http.json('POST', '/generate', { ...body, stream: false }, options.signal);
  }

  /**
   * `POST /generate` with `stream: true`: cumulative updates (text and ids so far); the last
   * has `meta_info.finish_reason` set. Breaking out of the loop aborts the request.
   */
  generateStream(
    body: SingleGenerateRequest,
    options: RequestOptions = {},
  ): AsyncGenerator<GenerateReply> {
    return this.http.events('/generate', { ...body, stream: true }, options.signal);
  }

  /** A streamed batch: each update names its prompt by `index`. */
  generateBatchStream(
    body: BatchGenerateRequest,
    options: RequestOptions = {},
  ): AsyncGenerator<BatchGenerateChunk> {
    return this.http.events('/generate', { ...body, stream: true }, options.signal);
  }

  releaseMemoryOccupation(body: MemoryOccupationRequest = {}): Promise<ReleaseMemoryReply> {
    return this.http.control('POST', '/release_memory_occupation', body);
  }

  resumeMemoryOccupation(body: MemoryOccupationRequest = {}): Promise<ResumeMemoryReply> {
    return this.http.control('POST', '/resume_memory_occupation', body);
  }

  isSleeping(): Promise<IsSleepingReply & ControlReply> {
    return this.http.control('GET', '/is_sleeping');
  }

  pauseGeneration(body: PauseGenerationRequest = {}): Promise<ControlReply> {
    return this.http.control('POST', '/pause_generation', body);
  }

  continueGeneration(): Promise<ControlReply> {
    return this.http.control('POST', '/continue_generation', {});
  }

  updateWeightsFromDisk(body: UpdateWeightsFromDiskRequest): Promise<ControlReply> {
    return this.http.control('POST', '/update_weights_from_disk', body);
  }

  /**
   * Pushes weights (all or some) as one safetensors file, e.g. the bytes of
   * `safetensors.torch.save(named_tensors)`; names, shapes and dtypes are checked first.
   */
  updateWeightsFromTensor(
    safetensors: Uint8Array,
    options: { weight_version?: string } = {},
  ): Promise<ControlReply> {
    const query = options.weight_version
      ? `?weight_version=${encodeURIComponent(options.weight_version)}`
      : '';
    return this.http.control('POST', `/update_weights_from_tensor${query}`, safetensors);
  }

  /** Names the current weights (aborting every request first unless told not to). */
  updateWeightVersion(body: UpdateWeightVersionRequest): Promise<ControlReply> {
    return this.http.control('POST', '/update_weight_version', body);
  }

  /** The version the last successful update named. */
  getWeightVersion(): Promise<WeightVersionReply> {
    return this.http.json('GET', '/get_weight_version');
  }

  /** How the engine serves: limits, switches, version (`GET /get_server_info`). */
  getServerInfo(): Promise<ServerInfoReply> {
    return this.http.json('GET', '/get_server_info');
  }

  /** The model's tokenizer on `prompt` (BOS included unless `add_special_tokens` is false). */
  tokenize(prompt: string, options: { add_special_tokens?: boolean } = {}): Promise<TokenizeReply> {
    return this.http.json('POST', '/tokenize', { prompt, ...options });
  }

  /** Token ids back to text. */
  detokenize(
    tokens: number[],
    options: { skip_special_tokens?: boolean } = {},
  ): Promise<DetokenizeReply> {
    return this.http.json('POST', '/detokenize', { tokens, ...options });
  }

  flushCache(): Promise<FlushCacheReply> {
    return this.http.control('POST', '/flush_cache', {});
  }

  abortRequest(body: AbortRequestRequest): Promise<ControlReply> {
    return this.http.control('POST', '/abort_request', body);
  }

  /** `GET /health`: success while the server serves (503 while it shuts down). */
  health(): Promise<ControlReply> {
    return this.http.control('GET', '/health');
  }

  /** Generates one token: a failure while asleep, paused or broken. */
  healthGenerate(): Promise<ControlReply> {
    return this.http.control('GET', '/health_generate');
  }

  modelInfo(options: RequestOptions = {}): Promise<ModelInfoReply> {
    return this.http.json('GET', '/model_info', undefined, options.signal);
  }

  /** `GET /v1/models`. */
  listModels(options: RequestOptions = {}): Promise<ModelList> {
    return this.http.json('GET', '/v1/models', undefined, options.signal);
  }

  /** `GET /metrics`: Prometheus text. */
  metrics(options: RequestOptions = {}): Promise<string> {
    return this.http.text('/metrics', options.signal);
  }
}
