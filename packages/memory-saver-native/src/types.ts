import type { DType } from './ops-types.js';
export type DeviceKind = 'cuda' | 'cpu';

export interface MemorySaverOptions {
  /** `auto` takes CUDA when the build has it and a GPU is there, else the CPU. Default `auto`. */
  device?: DeviceKind | 'auto';
  deviceIndex?: number;
  /** Physical memory is mapped in chunks of this size (rounded to the granularity). 1 GiB. */
  chunkBytes?: number;
  /** Keep host backups across cycles (default), or free them on resume to save host RAM. */
  keepBackups?: boolean;
}

/**
 * `false`: content is discarded on pause and undefined after resume.
 * `true`: copied to a host backup on every pause, restored byte for byte on resume.
 * `'tracked'`: like `true`, but the copy is skipped while the saver knows the device still
 * equals the backup: nothing wrote to it through this package since the last pause or
 * `loadThroughBackup`. Code that writes to it by other means must call `markDirty` first.
 */
export type CpuBackup = boolean | 'tracked';

export interface AllocateOptions {
  /** Omitted: untagged memory, which no pause touches (metadata that must survive). */
  tag?: string;
  cpuBackup?: CpuBackup;
  /**
   * Memory without a backup that reads as zeros now and after every resume (discarded content
   * is zeroed as it is mapped again: `setZeroOnResume`). Where new memory is zero already (the
   * CPU backend), nothing is written, so no page is faulted in.
   */
  zeroed?: boolean;
}

/** Bytes for `[offset, offset + bytes.byteLength)` of an allocation (`writeBackup`). */
export interface BackupPiece {
  offset: number;
  bytes: Uint8Array;
}

/** Memory another process shares by CUDA IPC (what torch's reduce_tensor sends for a storage). */
export interface IpcMemory {
  /** The cudaIpcMemHandle_t bytes (64). */
  handle: Uint8Array;
  /** The cudaIpcEventHandle_t to wait for before reading (64 bytes), or null. */
  event: Uint8Array | null;
}

/** One allocation another process shares by CUDA IPC, with every event to wait for first. */
export interface IpcAllocation {
  /** The cudaIpcMemHandle_t bytes (64). */
  handle: Uint8Array;
  /** cudaIpcEventHandle_t bytes (64 each). */
  events: Uint8Array[];
}

/** One tensor of shared memory copied into an allocation (`MemorySaver.copyIpc`). */
export interface IpcPiece {
  /** Index of its shared memory in the call's list. */
  source: number;
  /** Byte offset in the shared memory. */
  from: number;
  /** Byte offset in the allocation. */
  to: number;
  elements: number;
  fromType: DType;
  /** The allocation's dtype there: converted on the device when it differs. */
  toType: DType;
}

/** What `MemorySaver.copyIpc` found, and its time in each phase (ms). */
export interface IpcCopyReport {
  /** NaN/±Inf per piece: `first` is the element index of the first, -1 when `count` is 0. */
  counts: { count: number; first: number }[];
  /** Opening the handles and queueing the waits for their events. */
  openMs: number;
  /** The non-finite scan (after the events). */
  scanMs: number;
  /** The copies and conversions; 0 when a piece was refused. */
  copyMs: number;
  closeMs: number;
}

export interface TagStats {
  paused: boolean;
  allocations: number;
  reservedBytes: number;
  /** Bytes of device memory physically held now. */
  residentBytes: number;
  /** Bytes of host memory held in backups. */
  backupBytes: number;
}

export interface TransferReport {
  /** Bytes unmapped (pause) or mapped (resume). */
  physicalBytes: number;
  /** Bytes copied to (pause) or from (resume) host backups. */
  copiedBytes: number;
  /** Pause: the copies to host. Resume: mapping and copying, which overlap. */
  copyMs: number;
  /** Pause: unmapping. Resume: the time spent in map calls. */
  mapMs: number;
  /** The whole call, as the caller sees it. */
  durationMs: number;
}

export interface DeviceMemory {
  free: number;
  total: number;
}
