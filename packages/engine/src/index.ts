// The meta-package: everything a serving user needs, re-exported from the packages below.

export type {
  MemorySaver,
  ReleaseReply,
  ResumeReply,
  SleepStatus,
} from '@ts/memory-occupation';
export { DEFAULT_TAGS, MemoryOccupationController } from '@ts/memory-occupation';
export type { ControlResult, PauseMode, PauseState } from '@ts/pause';
export { PauseController } from '@ts/pause';
