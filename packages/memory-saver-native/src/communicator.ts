import type { MemorySaver } from './memory-saver.js';
import { nativeOf } from './memory-saver.js';
import { loadAddon, type NativeCommunicator } from './native-binding.js';
import { type DeviceAddress, type DType, dtypeCode } from './ops-types.js';

/** Two minutes: longer than any forward pass a rank may still be in when another arrives. */
export const DEFAULT_COMMUNICATOR_TIMEOUT_MS = 120_000;

export interface CommunicatorOptions {
  /** Ranks of this process that pass the same id meet in one group. */
  groupId: string;
  worldSize: number;
  /** 0 ≤ rank < worldSize, one communicator per rank of a group at a time. */
  rank: number;
  /**
   * How long a collective waits for the other ranks; past it the call throws naming the
   * missing ranks, and the group is broken for every rank. Default
   * `DEFAULT_COMMUNICATOR_TIMEOUT_MS`.
   */
  timeoutMs?: number;
}

/**
 * One rank's end of a group of tensor-parallel ranks running as threads of one process, on
 * the CPU backend (host memory; a CUDA saver is refused: that needs NCCL). Collectives block
 * the calling thread until every rank made the same call, like the synchronous kernels of a
 * forward pass, so call them from rank workers, not from a thread that must stay responsive.
 * Sums are taken in rank order in float32, so every rank gets the same bits on every run.
 */
export class Communicator {
  readonly groupId: string;
  readonly worldSize: number;
  readonly rank: number;
  readonly #native: NativeCommunicator;

  /** @internal use `createCommunicator` */
  constructor(native: NativeCommunicator, options: Required<CommunicatorOptions>) {
    this.#native = native;
    this.groupId = options.groupId;
    this.worldSize = options.worldSize;
    this.rank = options.rank;
  }

  /**
   * `count` elements of `dtype` at `address` become, on every rank, the sum over ranks
   * 0, 1, … of theirs. Every rank must pass the same count and dtype, or all of them throw.
   */
  allReduceSum(address: DeviceAddress, count: number, dtype: DType): void {
    this.#native.allReduceSum(
      checkAddress(address, 'address'),
      checkCount(count),
      dtypeCode(dtype),
    );
  }

  /**
   * Rank r's `count` elements at `input` land at `out + r * count` elements on every rank;
   * `out` holds `worldSize * count` elements (this rank's input may be its own slot of it).
   * With `rows`, each input is a [rows, count / rows] matrix and `out` the
   * [rows, worldSize * count / rows] matrix of them side by side, rank r's columns at
   * `r * count / rows`: vocabulary-parallel logits gathered into full rows. The input must then
   * not overlap `out`. Every rank passes the same count, rows and dtype.
   */
  allGather(input: DeviceAddress, count: number, dtype: DType, out: DeviceAddress, rows = 1): void {
    if (!Number.isSafeInteger(rows) || rows < 1) {
      throw new RangeError(`rows must be a positive integer, got ${rows}`);
    }
    this.#native.allGather(
      checkAddress(input, 'input'),
      checkCount(count),
      dtypeCode(dtype),
      checkAddress(out, 'out'),
      rows,
    );
  }

  /** Leaves the group (idempotent); ranks still waiting for this one then throw. */
  close(): void {
    this.#native.close();
  }
}

/** Joins this rank to its group; throws when the rank is taken or the world size disagrees. */
export function createCommunicator(saver: MemorySaver, options: CommunicatorOptions): Communicator {
  const { groupId, worldSize, rank } = options;
  const timeoutMs = options.timeoutMs ?? DEFAULT_COMMUNICATOR_TIMEOUT_MS;
  if (groupId === '') throw new Error('createCommunicator: groupId must not be empty');
  if (!Number.isSafeInteger(worldSize) || worldSize < 1) {
    throw new RangeError(
      `createCommunicator: worldSize must be a positive integer, got ${worldSize}`,
    );
  }
  if (!Number.isSafeInteger(rank) || rank < 0 || rank >= worldSize) {
    throw new RangeError(`createCommunicator: rank must be in [0, ${worldSize}), got ${rank}`);
  }
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs <= 0) {
    throw new RangeError(
      `createCommunicator: timeoutMs must be a positive integer, got ${timeoutMs}`,
    );
  }
  const native = new (loadAddon().NativeCommunicator)(
    nativeOf(saver),
    groupId,
    worldSize,
    rank,
    timeoutMs,
  );
  return new Communicator(native, { groupId, worldSize, rank, timeoutMs });
}

function checkAddress(address: DeviceAddress, name: string): number {
  if (!Number.isSafeInteger(address) || address <= 0) {
    throw new RangeError(
      `${name} must be a device address (a positive safe integer), got ${address}`,
    );
  }
  return address;
}

function checkCount(count: number): number {
  if (!Number.isSafeInteger(count) || count < 0) {
    throw new RangeError(`count must be a non-negative integer, got ${count}`);
  }
  return count;
}
