export type { EngineClientOptions } from './engine-client.js';
export { EngineClient } from './engine-client.js';
export type {
  ControlReply,
  IsSleepingReply,
  MemoryOccupationRequest,
  MemoryTag,
  PauseGenerationMode,
  PauseGenerationRequest,
  ReleaseMemoryReply,
  ResumeMemoryReply,
} from './wire.js';
