/** Bodies and replies of the engine's HTTP control API, as SGLang's server has them. */

export interface ControlReply {
  success: boolean;
  message: string;
}

export type MemoryTag = 'weights' | 'kv_cache' | 'cuda_graph' | (string & {});

export interface MemoryOccupationRequest {
  /** Omitted: every tag on release, the released tags on resume. */
  tags?: MemoryTag[];
}

export interface ReleaseMemoryReply extends ControlReply {
  released_tags?: string[];
  freed_bytes?: number;
  duration_ms?: number;
}

export interface ResumeMemoryReply extends ControlReply {
  released_tags?: string[];
  resumed_tags?: string[];
  duration_ms?: number;
}

export interface IsSleepingReply {
  is_sleeping: boolean;
  released_tags?: string[];
}

export type PauseGenerationMode = 'abort' | 'wait' | 'keep';

export interface PauseGenerationRequest {
  mode?: PauseGenerationMode;
}
