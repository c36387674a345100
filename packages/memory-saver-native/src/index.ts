export { Allocation } from './allocation.js';
export {
  Communicator,
  type CommunicatorOptions,
  createCommunicator,
  DEFAULT_COMMUNICATOR_TIMEOUT_MS,
} from './communicator.js';
export { DeviceTransfers } from './device-transfers.js';
export {
  decodeBfloat16,
  decodeFloat16,
  encodeBfloat16,
  encodeFloat16,
} from './half-precision.js';
export type * from './kernel-args.js';
export { createMemorySaver, cudaDeviceCount, MemorySaver } from './memory-saver.js';
export { countNonFinite, type NonFiniteCount } from './non-finite.js';
export { createOps, Ops } from './ops.js';
export {
  type AttentionBatch,
  type DeviceAddress,
  type DType,
  dtypeBytes,
  type RotaryLayout,
} from './ops-types.js';
export type {
  AllocateOptions,
  BackupPiece,
  CpuBackup,
  DeviceKind,
  DeviceMemory,
  IpcAllocation,
  IpcCopyReport,
  IpcMemory,
  IpcPiece,
  MemorySaverOptions,
  TagStats,
  TransferReport,
} from './types.js';
