import type { CpuBackup } from './types.js';

/** A range of device memory at a stable address, from `MemorySaver.allocate`. */
export class Allocation {
  #freed = false;

  constructor(
    readonly id: number,
    readonly address: bigint,
    readonly size: number,
    readonly tag: string | undefined,
    readonly cpuBackup: CpuBackup,
  ) {}

  get freed(): boolean {
    return this.#freed;
  }

  /** @internal */
  markFreed(): void {
    this.#freed = true;
  }
}
