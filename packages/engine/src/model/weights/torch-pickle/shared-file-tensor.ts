import { open } from 'node:fs/promises';
import { DTYPE_BYTES } from '../../loader/tensor-source.js';
import type { SharedFileStorage, TensorRef } from './torch-globals.js';

/** Where torch's file_system strategy keeps its shared-memory objects. */
export const SHARED_MEMORY_DIR = '/dev/shm';
/**
 * What precedes a storage's bytes in its shared-memory object: torch's refcounted map
 * allocator keeps the object's reference count in the first 64 bytes.
 */
export const SHARED_FILE_HEADER_BYTES = 64;

/** Elements of a row-major tensor of `shape` (strides as torch's `contiguous()` gives). */
function isContiguous(shape: readonly number[], stride: readonly number[]): boolean {
  let expected = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if ((shape[i] as number) > 1 && stride[i] !== expected) return false;
    expected *= shape[i] as number;
  }
  return true;
}

/**
 * The bytes of a CPU tensor a trainer shared by file (torch's file_system strategy), read from
 * its shared-memory object while the trainer holds it; the tensor must be contiguous and lie
 * within its storage.
 */
export async function readSharedFileTensor(
  ref: TensorRef & { storage: SharedFileStorage },
  dir = SHARED_MEMORY_DIR,
): Promise<Uint8Array> {
  const elementBytes = DTYPE_BYTES[ref.dtype];
  if (!isContiguous(ref.shape, ref.stride))
    throw new Error(
      `a tensor of shape [${ref.shape}] with strides [${ref.stride}] is not contiguous`,
    );
  const numel = ref.shape.reduce((n, d) => n * d, 1);
  const start = ref.offset * elementBytes;
  const length = numel * elementBytes;
  if (start + length > ref.storage.bytes)
    throw new Error(
      `a tensor of ${length} bytes at byte ${start} overruns its storage of ${ref.storage.bytes}`,
    );
  const file = await open(`${dir}${ref.storage.name}`, 'r');
  try {
    const out = new Uint8Array(length);
    const { bytesRead } = await file.read(out, 0, length, SHARED_FILE_HEADER_BYTES + start);
    if (bytesRead !== length)
      throw new Error(`shared memory ${ref.storage.name}: ${bytesRead} of ${length} bytes`);
    return out;
  } finally {
    await file.close();
  }
}
