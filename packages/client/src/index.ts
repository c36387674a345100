export type { EngineClientOptions, RequestOptions } from './engine-client.js';
export { EngineClient } from './engine-client.js';
export { EngineClientError } from './errors.js';
export { readSseData } from './sse-reader.js';
export type {
  AbortRequestRequest,
  BatchGenerateChunk,
  BatchGenerateRequest,
  ControlReply,
  FinishReason,
  FinishReasonType,
  GenerateMetaInfo,
  GenerateReply,
  GenerateRequest,
  IsSleepingReply,
  MemoryOccupationRequest,
  MemoryTag,
  ModelInfoReply,
  OpenAIErrorReply,
  PauseGenerationMode,
  PauseGenerationRequest,
  ReleaseMemoryReply,
  ResumeMemoryReply,
  SamplingParams,
  SingleGenerateRequest,
  UpdateWeightsFromDiskRequest,
} from './wire.js';
export type {
  ChatCompletion,
  ChatCompletionChoice,
  ChatCompletionChunk,
  ChatCompletionChunkChoice,
  ChatCompletionRequest,
  ChatMessageParam,
  Completion,
  CompletionChoice,
  CompletionRequest,
  ModelCard,
  ModelList,
  OpenAIFinishReason,
  OpenAISamplingRequest,
  OpenAIStreamOptions,
  OpenAIUsage,
} from './wire-openai.js';
