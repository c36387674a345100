import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import { CheckpointError } from './checkpoint-error.js';

/** The element types a checkpoint may hold. */
export type TensorDtype = 'float32' | 'bfloat16' | 'float16';

export const DTYPE_BYTES: Readonly<Record<TensorDtype, number>> = {
  float32: 4,
  bfloat16: 2,
  float16: 2,
};

/** A tensor's name and shape, without its bytes. */
export interface TensorInfo {
  readonly name: string;
  readonly shape: readonly number[];
}

/**
 * One tensor of an opened checkpoint. `read` streams its bytes (little-endian, row-major) from
 * the file into `into`, which must be exactly `byteLength` long; it requires the checkpoint to
 * be open and changes nothing but `into`.
 */
export interface TensorSource extends TensorInfo {
  readonly dtype: TensorDtype;
  readonly byteLength: number;
  read(into: Uint8Array): Promise<void>;
}

/** Positional reads are issued in pieces of this many bytes. */
export const READ_CHUNK_BYTES = 4 * 1024 * 1024;
/** Pieces read at once: one per thread of libuv's pool (four unless UV_THREADPOOL_SIZE says). */
const readsInFlight = () => Math.max(1, Number(process.env.UV_THREADPOOL_SIZE) || 4);

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((product, size) => product * size, 1);
}

export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** One open checkpoint file: positional reads that fail with the file and tensor named. */
export class CheckpointFile {
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    readonly size: number,
  ) {}

  static async open(path: string): Promise<CheckpointFile> {
    const handle = await open(path, 'r');
    try {
      const stat = await handle.stat();
      return new CheckpointFile(path, handle, stat.size);
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  /**
   * Fills `into` from byte `position` of the file; a file that ends first is truncated. Pieces
   * are read a few at a time (libuv's thread pool copies them from the page cache in parallel).
   */
  async readAt(position: number, into: Uint8Array, what: string): Promise<void> {
    if (this.closed) throw new CheckpointError(`${this.path}: cannot read ${what}: file is closed`);
    let next = 0;
    const worker = async () => {
      while (next < into.byteLength) {
        const start = next;
        next = Math.min(start + READ_CHUNK_BYTES, into.byteLength);
        await this.readPiece(position, into, start, next, what);
      }
    };
    const pieces = Math.ceil(into.byteLength / READ_CHUNK_BYTES);
    await Promise.all(Array.from({ length: Math.min(readsInFlight(), pieces) }, worker));
  }

  private async readPiece(
    position: number,
    into: Uint8Array,
    start: number,
    end: number,
    what: string,
  ): Promise<void> {
    for (let done = start; done < end; ) {
      const { bytesRead } = await this.handle.read(into, done, end - done, position + done);
      if (bytesRead === 0) {
        throw new CheckpointError(
          `${this.path}: ${what} is truncated: needed ${into.byteLength} bytes at offset ` +
            `${position}, the file ended after ${done}`,
        );
      }
      done += bytesRead;
    }
  }

  /** A `TensorSource` for `byteLength` bytes at `position`. */
  tensor(info: TensorInfo, dtype: TensorDtype, position: number): TensorSource {
    const byteLength = elementCount(info.shape) * DTYPE_BYTES[dtype];
    return {
      name: info.name,
      shape: info.shape,
      dtype,
      byteLength,
      read: async (into) => {
        if (into.byteLength !== byteLength) {
          throw new RangeError(
            `tensor ${info.name}: read needs a buffer of ${byteLength} bytes, got ${into.byteLength}`,
          );
        }
        await this.readAt(position, into, `tensor ${info.name}`);
      },
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.handle.close();
  }
}

/** Closes every file, even when some closes fail; rethrows the first failure. */
export async function closeAll(files: readonly { close(): Promise<void> }[]): Promise<void> {
  const results = await Promise.allSettled(files.map((file) => file.close()));
  const failed = results.find((result) => result.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
}
