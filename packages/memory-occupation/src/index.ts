export { MemoryOccupationController } from './memory-occupation-controller.js';
export type { MemoryTag } from './memory-tags.js';
export { DEFAULT_TAGS } from './memory-tags.js';
export type { TagSelection } from './tag-selection.js';
export { selectTags } from './tag-selection.js';
export type {
  KvPoolHandle,
  KvPoolRegistry,
  MemoryOccupationOptions,
  MemorySaver,
  PrefixCache,
  ReleaseReply,
  ResumeReply,
  SleepStatus,
} from './types.js';
