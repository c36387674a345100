import type { Allocation, MemorySaver } from '@ts/memory-saver-native';
import { PageAllocator } from './page-allocator.js';

export type KvDtype = 'float32' | 'bfloat16' | 'float16';

const DTYPE_BYTES: Record<KvDtype, number> = { float32: 4, bfloat16: 2, float16: 2 };

export interface KvPoolShape {
  numLayers: number;
  kvHeads: number;
  headDim: number;
  pageSize: number;
  dtype: KvDtype;
}

export interface KvPoolOptions extends KvPoolShape {
  /** Names the pool in repair reports: `target`, `draft`. */
  name: string;
  numPages: number;
  /** The memory tag of the KV buffers; `kv_cache` by default. */
  tag?: string;
}

/**
 * The paged KV cache of one model: for every layer a K and a V buffer of `numPages` pages,
 * each `[kvHeads][pageSize][headDim]` values (`native/src/kernels/kv_layout.h`: a head's keys of
 * a page in one run), all in one allocation of the
 * `kv_cache` tag. Its page allocator and every table that points into it live outside the
 * tag, so they survive a release (only the KV values are discarded).
 */
export class KvPool {
  readonly pages: PageAllocator;
  readonly slotBytes: number;
  readonly layerBytes: number;

  private constructor(
    private readonly saver: MemorySaver,
    /** The pool's memory in the KV tag (read-only use: metrics, checks). */
    readonly allocation: Allocation,
    readonly name: string,
    readonly shape: KvPoolShape,
    readonly numPages: number,
  ) {
    this.pages = new PageAllocator(numPages);
    this.slotBytes = shape.kvHeads * shape.headDim * DTYPE_BYTES[shape.dtype];
    this.layerBytes = numPages * shape.pageSize * this.slotBytes;
  }

  static bytesPerPage(shape: KvPoolShape): number {
    return (
      2 *
      shape.numLayers *
      shape.pageSize *
      shape.kvHeads *
      shape.headDim *
      DTYPE_BYTES[shape.dtype]
    );
  }

  /** Allocates the pool (zeroed) in the KV tag. */
  static async create(saver: MemorySaver, options: KvPoolOptions): Promise<KvPool> {
    const { name, numPages, tag = 'kv_cache', ...shape } = options;
    for (const [key, value] of Object.entries({ numPages, ...shape })) {
      if (key !== 'dtype' && (!Number.isInteger(value) || (value as number) <= 0)) {
        throw new RangeError(`KV pool ${name}: ${key} must be a positive integer, got ${value}`);
      }
    }
    if (!(shape.dtype in DTYPE_BYTES))
      throw new Error(`KV pool ${name}: unknown dtype ${shape.dtype}`);
    const bytes = numPages * KvPool.bytesPerPage(shape);
    const allocation = await saver.allocate(bytes, { tag, zeroed: true });
    return new KvPool(saver, allocation, name, shape, numPages);
  }

  get bytes(): number {
    return this.allocation.size;
  }

  /** Device address of layer `layer`'s K buffer, laid out [page][kvHeads][pageSize][headDim]. */
  keyAddress(layer: number): number {
    return this.address(2 * this.checkLayer(layer));
  }

  valueAddress(layer: number): number {
    return this.address(2 * this.checkLayer(layer) + 1);
  }

  /** Zeroes every buffer now. */
  clear(): Promise<void> {
    return this.saver.zero(this.allocation);
  }

  /**
   * The repair right after the KV tag comes back (spec rule 10): nothing left to do, since the
   * saver zeroes the pool's memory as it maps it again (allocated `zeroed`).
   */
  repair(): void {}

  free(): Promise<void> {
    return this.saver.free(this.allocation);
  }

  private address(buffer: number): number {
    return Number(this.allocation.address) + buffer * this.layerBytes;
  }

  private checkLayer(layer: number): number {
    if (!Number.isInteger(layer) || layer < 0 || layer >= this.shape.numLayers) {
      throw new RangeError(`KV pool ${this.name}: no layer ${layer}`);
    }
    return layer;
  }
}
