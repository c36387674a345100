// The meta-package: everything a serving user needs, re-exported from the packages below,
// plus the model runtime that lives here.
export { KvPool, KvPoolRegistry, PageAllocator } from '@ts/kv-pool';
export type {
  MemorySaver as MemorySaverPort,
  ReleaseReply,
  ResumeReply,
  SleepStatus,
} from '@ts/memory-occupation';
export { DEFAULT_TAGS, MemoryOccupationController } from '@ts/memory-occupation';
export { createMemorySaver, createOps, MemorySaver, Ops } from '@ts/memory-saver-native';
export type { ControlResult, PauseMode, PauseState } from '@ts/pause';
export { PauseController } from '@ts/pause';
export { Engine } from './engine/engine.js';
export { InvalidInputError } from './engine/validate-input.js';
export type {
  ChatMessageInput,
  EngineApi,
  EngineMetrics,
  GenerateChunk,
  GenerateInput,
  GenerateMeta,
  GenerateOutput,
  ModelInfo,
  SamplingInput,
} from './engine-api.js';
export { BUILTIN_TINY_CONFIG, openBuiltinTiny } from './model/builtin-tiny.js';
export type { ForwardSequence, SamplingSpec } from './model/forward-batch.js';
export { GREEDY } from './model/forward-batch.js';
export { CheckpointError } from './model/loader/checkpoint-error.js';
export { checkTensors, expectedLlamaTensors } from './model/loader/llama-weights.js';
export type { Architecture, ModelConfig, RotaryLayout } from './model/loader/model-config.js';
export { parseModelConfig, SUPPORTED_ARCHITECTURES } from './model/loader/model-config.js';
export type { OpenedCheckpoint } from './model/loader/open-checkpoint.js';
export { openCheckpoint } from './model/loader/open-checkpoint.js';
export type { TensorDtype, TensorSource } from './model/loader/tensor-source.js';
export type { RunnerLimits, SampleRequest } from './model/model-runner.js';
export { ModelRunner } from './model/model-runner.js';
export type { LoadProgress } from './model/weights/load-weights.js';
export { LoadedWeights, type LoadOptions, loadWeights } from './model/weights/load-weights.js';
export type { NamedTensor } from './model/weights/named-tensors.js';
export type { WeightChecks } from './model/weights/non-finite-check.js';
export type { DeviceChoice, LaunchOptions } from './protocol/options.js';
export { createServer } from './server/index.js';
export { ByteTokenizer } from './tokenizer/byte-tokenizer.js';
export type { ChatMessage, ChatTemplateOptions } from './tokenizer/chat-template.js';
export { ChatTemplate } from './tokenizer/chat-template.js';
export { HfTokenizer, loadHfTokenizer } from './tokenizer/hf-tokenizer.js';
export { Llama2cTokenizer, loadLlama2cTokenizer } from './tokenizer/llama2c-tokenizer.js';
export type { StreamDecoder, Tokenizer } from './tokenizer/tokenizer.js';
