export { Allocation } from './allocation.js';
export { createMemorySaver, MemorySaver } from './memory-saver.js';
export type {
  AllocateOptions,
  CpuBackup,
  DeviceKind,
  DeviceMemory,
  MemorySaverOptions,
  TagStats,
  TransferReport,
} from './types.js';
