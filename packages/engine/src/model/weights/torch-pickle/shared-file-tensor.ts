import { open } from 'node:fs/promises';
import type { HostTensor } from '../named-tensors.js';
import type { PickledTensor } from './serialized-named-tensors.js';
import type { SharedFileStorage } from './torch-globals.js';

/** Where torch's file_system strategy keeps its shared-memory objects. */
export const SHARED_MEMORY_DIR = '/dev/shm';
/**
 * What precedes a storage's bytes in its shared-memory object: torch's refcounted map
 * allocator keeps the object's reference count in the first 64 bytes.
 */
export const SHARED_FILE_HEADER_BYTES = 64;

/**
 * Reads `into.byteLength` bytes of a storage a trainer shared by file (torch's file_system
 * strategy), from `byteOffset` on, while the trainer holds it.
 */
export async function readSharedFile(
  storage: SharedFileStorage,
  byteOffset: number,
  into: Uint8Array,
  dir = SHARED_MEMORY_DIR,
): Promise<void> {
  const file = await open(`${dir}${storage.name}`, 'r');
  try {
    const { bytesRead } = await file.read(
      into,
      0,
      into.byteLength,
      SHARED_FILE_HEADER_BYTES + byteOffset,
    );
    if (bytesRead !== into.byteLength)
      throw new Error(`shared memory ${storage.name}: ${bytesRead} of ${into.byteLength} bytes`);
  } finally {
    await file.close();
  }
}

/**
 * The bytes of pickled CPU tensors, read from their shared-memory objects into one shared
 * buffer (every rank reads it without a copy).
 */
export async function readSharedFileTensors(
  tensors: readonly PickledTensor[],
  dir = SHARED_MEMORY_DIR,
): Promise<HostTensor[]> {
  const total = tensors.reduce((n, t) => n + t.byteLength, 0);
  const shared = new Uint8Array(new SharedArrayBuffer(total));
  let at = 0;
  const named = tensors.map((t) => {
    if (t.storage.kind !== 'shared-file')
      throw new Error(`${t.name} is a CUDA tensor, not one shared by file`);
    const data = shared.subarray(at, at + t.byteLength);
    at += t.byteLength;
    return { t, storage: t.storage, data };
  });
  await Promise.all(named.map((n) => readSharedFile(n.storage, n.t.byteOffset, n.data, dir)));
  return named.map(({ t, data }) => ({ name: t.name, dtype: t.dtype, shape: t.shape, data }));
}
