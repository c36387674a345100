import { Allocation } from './allocation.js';
import { loadAddon, type NativeMemorySaver } from './native-binding.js';
import { dtypeCode } from './ops-types.js';
import type {
  AllocateOptions,
  BackupPiece,
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

const GiB = 1024 ** 3;
const natives = new WeakMap<MemorySaver, NativeMemorySaver>();

/** @internal the native object behind a saver, for `./testing` and benchmarks. */
export function nativeOf(saver: MemorySaver): NativeMemorySaver {
  const native = natives.get(saver);
  if (!native) throw new Error('not a MemorySaver');
  return native;
}
const BACKUP_MODE = { false: 0, true: 1, tracked: 2 } as const;

/** TS_STEP_TRACE=1 prints every pause and resume with its report (stderr). */
const TRACE = process.env.TS_STEP_TRACE === '1';

/**
 * Device memory in tagged regions. `pause(tag)` gives a tag's physical memory back (copying
 * backed-up allocations to host first); `resume(tag)` maps it again at the same addresses and
 * restores the backups. A resume that fails part-way leaves the tag paused with its backups.
 */
export class MemorySaver {
  readonly device: DeviceKind;
  readonly #native: NativeMemorySaver;
  readonly #allocations = new Map<number, Allocation>();

  /** @internal use `createMemorySaver` */
  constructor(native: NativeMemorySaver, device: DeviceKind) {
    this.#native = native;
    this.device = device;
    natives.set(this, native);
  }

  /** e.g. `cuda:0` or `cpu`. */
  get deviceName(): string {
    return this.#native.deviceName;
  }

  async allocate(bytes: number, options: AllocateOptions = {}): Promise<Allocation> {
    const tag = options.tag ?? '';
    const cpuBackup = options.cpuBackup ?? false;
    if (options.tag === '')
      throw new Error('allocate: a tag must not be empty (omit it for untagged memory)');
    if (!Number.isSafeInteger(bytes) || bytes <= 0) {
      throw new RangeError(`allocate: bytes must be a positive integer, got ${bytes}`);
    }
    const made = await this.#native.allocate(bytes, tag, BACKUP_MODE[`${cpuBackup}`]);
    const allocation = new Allocation(made.id, made.address, bytes, options.tag, cpuBackup);
    this.#allocations.set(made.id, allocation);
    if (options.zeroed) {
      this.setZeroOnResume(allocation, true);
      if (!this.#native.mapsZeroed) await this.zero(allocation);
    }
    return allocation;
  }

  async free(allocation: Allocation): Promise<void> {
    await this.#native.free(this.#own(allocation).id);
    this.#allocations.delete(allocation.id);
    allocation.markFreed();
  }

  /** Pauses `tag`, or every active tag when omitted. */
  async pause(tag?: string): Promise<TransferReport> {
    return this.#timed(`pause ${tag ?? 'all'}`, () => this.#native.pause(tag ?? ''));
  }

  /** Resumes `tag`, or every paused tag when omitted. */
  async resume(tag?: string): Promise<TransferReport> {
    return this.#timed(`resume ${tag ?? 'all'}`, () => this.#native.resume(tag ?? ''));
  }

  isPaused(tag: string): boolean {
    return this.stats()[tag]?.paused ?? false;
  }

  /** Device bytes the tag physically holds now (the `MemorySaver` port of memory-occupation). */
  bytes(tag: string): number {
    return this.stats()[tag]?.residentBytes ?? 0;
  }

  /** Waits for all work on the device. */
  async synchronize(): Promise<void> {
    return this.#native.synchronize();
  }

  /**
   * Copies bytes another process shares by CUDA IPC to the host: opens the handle, waits for
   * its event, copies each piece (`offset` from the shared memory's start, into `bytes`) and
   * closes the handle, also when a step fails. The CPU backend throws.
   */
  async readIpc(memory: IpcMemory, pieces: readonly BackupPiece[]): Promise<void> {
    const offsets = pieces.map((p) => p.offset);
    const into = pieces.map((p) => p.bytes);
    return this.#native.readIpc(memory.handle, memory.event, offsets, into);
  }

  /**
   * Copies tensors another process shares by CUDA IPC into `allocation`, device to device:
   * opens every handle and waits for its events, scans every piece for NaN/±Inf on the device,
   * then (unless `refuseNonFinite` and a count is above 0: then nothing is written) copies each,
   * converting dtypes on the device, and closes the handles, also when a step fails. The
   * allocation's backup then counts as stale (the next release copies the device). Returns the
   * counts, one per piece, and each phase's time. The CPU backend throws.
   */
  async copyIpc(
    allocation: Allocation,
    sources: readonly IpcAllocation[],
    pieces: readonly IpcPiece[],
    { refuseNonFinite }: { refuseNonFinite: boolean },
  ): Promise<IpcCopyReport> {
    const native = pieces.map((p) => ({
      ...p,
      fromType: dtypeCode(p.fromType),
      toType: dtypeCode(p.toType),
    }));
    const shared = sources.map(({ handle, events }) => ({ handle, events }));
    return this.#native.copyIpc(this.#own(allocation).id, shared, native, refuseNonFinite);
  }

  /** Per tag (untagged memory under `''`). */
  stats(): Record<string, TagStats> {
    const out: Record<string, TagStats> = {};
    for (const { tag, ...rest } of this.#native.stats()) out[tag] = rest;
    return out;
  }

  /** Free and total memory as the driver (CUDA) or the OS (CPU) reports them. */
  deviceMemory(): DeviceMemory {
    return this.#native.memoryInfo();
  }

  /** Bytes of the allocation's range physically resident now (the OS's own count on the CPU). */
  residentBytes(allocation: Allocation): number {
    return this.#native.residentBytes(this.#own(allocation).id);
  }

  async copyFromHost(allocation: Allocation, buffer: Uint8Array, offset = 0): Promise<void> {
    return this.#native.copyFromHost(this.#own(allocation).id, offset, buffer);
  }

  async copyToHost(allocation: Allocation, buffer: Uint8Array, offset = 0): Promise<void> {
    return this.#native.copyToHost(this.#own(allocation).id, offset, buffer);
  }

  async fill(
    allocation: Allocation,
    value: number,
    offset = 0,
    length = allocation.size - offset,
  ): Promise<void> {
    return this.#native.fill(this.#own(allocation).id, offset, length, value);
  }

  async zero(allocation: Allocation): Promise<void> {
    return this.fill(allocation, 0);
  }

  /** A content checksum computed on the device (same value on every backend). Offset: multiple of 8. */
  async checksum(
    allocation: Allocation,
    offset = 0,
    length = allocation.size - offset,
  ): Promise<bigint> {
    return this.#native.checksum(this.#own(allocation).id, offset, length);
  }

  /** Says the device content changed by means the saver cannot see (a kernel wrote to it). */
  markDirty(allocation: Allocation): void {
    this.#native.markDirty(this.#own(allocation).id);
  }

  /**
   * With `deferred`, a resume maps the allocation but leaves the copy from its backup pending
   * until the content is needed: `restore`, any read or partial write through this saver, or
   * the next pause (which then copies nothing). Kernels read device memory directly, so their
   * owner calls `restore` before using it.
   */
  setDeferredRestore(allocation: Allocation, deferred: boolean): void {
    this.#native.setDeferredRestore(this.#own(allocation).id, deferred);
  }

  /**
   * For memory without a backup: every resume zeroes it chunk by chunk as it maps them, the
   * fills overlapping the mapping; the zeros land ahead of every later kernel and copy on the
   * device's stream (the resume does not wait for them).
   */
  setZeroOnResume(allocation: Allocation, zero: boolean): void {
    this.#native.setZeroOnResume(this.#own(allocation).id, zero);
  }

  /** Whether the allocation's content still waits in its backup (see `setDeferredRestore`). */
  restorePending(allocation: Allocation): boolean {
    return this.#native.restorePending(this.#own(allocation).id);
  }

  /** Copies a pending restore to the device; true when there was one. */
  async restore(allocation: Allocation): Promise<boolean> {
    return this.#native.restore(this.#own(allocation).id);
  }

  /**
   * Lets `write` fill the allocation's host backup, then uploads it: a loader writes weights
   * once, and the first pause finds them clean. The view is detached when `write` ends; if
   * `write` throws, nothing is uploaded and the allocation counts as changed.
   */
  async loadThroughBackup(
    allocation: Allocation,
    write: (backup: Uint8Array) => void | Promise<void>,
  ): Promise<void> {
    const id = this.#own(allocation).id;
    const view = this.#native.openBackup(id);
    try {
      await write(new Uint8Array(view, 0, allocation.size));
    } catch (error) {
      await this.#native.closeBackup(id, view, false);
      throw error;
    }
    await this.#native.closeBackup(id, view, true);
  }

  /**
   * Writes bytes into the host backup of an allocation whose content lives only there: its tag
   * is paused, or a deferred restore is still pending. The next resume (or restore) brings them
   * to the device; nothing on the device is mapped or written now. Every range is checked
   * before the first byte lands and the copy runs under the saver's lock, so all pieces land or
   * none. Throws when the content is on the device (write it there instead).
   */
  async writeBackup(allocation: Allocation, pieces: readonly BackupPiece[]): Promise<void> {
    const offsets = pieces.map((p) => p.offset);
    const bytes = pieces.map((p) => p.bytes);
    return this.#native.writeBackup(this.#own(allocation).id, offsets, bytes);
  }

  #own(allocation: Allocation): Allocation {
    if (this.#allocations.get(allocation.id) !== allocation) {
      throw new Error(
        `allocation ${allocation.id} is not live in this saver (freed, or another saver's)`,
      );
    }
    return allocation;
  }

  async #timed(
    what: string,
    run: () => Promise<Omit<TransferReport, 'durationMs'>>,
  ): Promise<TransferReport> {
    const start = performance.now();
    const report = await run();
    const durationMs = performance.now() - start;
    if (TRACE) {
      console.error(
        `[saver ${what} at ${(performance.timeOrigin + start).toFixed(2)}] ${durationMs.toFixed(2)} ms: ` +
          `map/unmap ${report.mapMs.toFixed(2)} ms, copy ${report.copyMs.toFixed(2)} ms, ${report.copiedBytes} bytes copied`,
      );
    }
    return { ...report, durationMs };
  }
}

/** GPUs this machine has that the CUDA build can use (0 on a build or machine without). */
export function cudaDeviceCount(): number {
  return loadAddon().cudaDeviceCount();
}

/** Opens a saver on the device; `auto` falls back to the CPU when no GPU can be used. */
export function createMemorySaver(options: MemorySaverOptions = {}): MemorySaver {
  const { NativeMemorySaver, cudaCompiledIn } = loadAddon();
  const device = options.device ?? 'auto';
  const deviceIndex = options.deviceIndex ?? 0;
  const chunkBytes = options.chunkBytes ?? GiB;
  const keepBackups = options.keepBackups ?? true;
  if (!['auto', 'cuda', 'cpu'].includes(device)) {
    throw new Error(`device must be 'auto', 'cuda' or 'cpu', got '${device}'`);
  }
  const open = (kind: DeviceKind) =>
    new MemorySaver(new NativeMemorySaver(kind, deviceIndex, chunkBytes, keepBackups), kind);
  if (device !== 'auto') return open(device);
  if (cudaCompiledIn) {
    try {
      return open('cuda');
    } catch {
      // No usable GPU here: the CPU backend keeps the same contract.
    }
  }
  return open('cpu');
}
