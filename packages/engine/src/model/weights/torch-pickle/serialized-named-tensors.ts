import { elementCount, type TensorDtype } from '../../loader/tensor-source.js';
import { PickleRefused, readPickle } from './pickle-machine.js';
import {
  type BucketEntry,
  bucketEntryOf,
  type CudaIpcStorage,
  type PerRankTensor,
  REF_DTYPE_BYTES,
  type SharedFileStorage,
  type TensorRef,
  torchGlobals,
} from './torch-globals.js';

/** SGLang's `load_format` values for `update_weights_from_tensor` this engine takes. */
export type TensorLoadFormat = 'flattened_bucket' | null;

/** A named tensor of a pickled update: where its bytes lie, never the bytes themselves. */
export interface PickledTensor {
  name: string;
  /** The dtype of the bytes (the weights' dtype may differ: they are cast on the way). */
  dtype: TensorDtype;
  shape: number[];
  storage: SharedFileStorage | CudaIpcStorage;
  /** From the storage's start. */
  byteOffset: number;
  byteLength: number;
}

/**
 * The named tensors of one `serialized_named_tensors` entry: base64 of what SGLang's
 * MultiprocessingSerializer makes of a list of `(name, tensor)` pairs (tensors, or SGLang's
 * LocalSerializedTensor of one per rank), or with `flattened_bucket` of
 * `{"flattened_tensor": t, "metadata": [FlattenedTensorMetadata, ...]}`. Read with the
 * allow-listed globals only; anything else is a PickleRefused.
 */
export function pickledNamedTensors(
  entry: string,
  loadFormat: TensorLoadFormat,
  tpRank = 0,
): PickledTensor[] {
  const value = readPickle(base64Bytes(entry), torchGlobals);
  return loadFormat === 'flattened_bucket' ? bucketTensors(value) : pairTensors(value, tpRank);
}

function base64Bytes(text: string): Uint8Array {
  if (text.length === 0 || text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text))
    throw new PickleRefused('serialized tensors: not base64 text');
  return Buffer.from(text, 'base64');
}

function pairTensors(value: unknown, tpRank: number): PickledTensor[] {
  if (!Array.isArray(value) || value.length === 0)
    throw new PickleRefused('serialized tensors: not a non-empty list of (name, tensor) pairs');
  return value.map((pair) => {
    if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string')
      throw new PickleRefused('serialized tensors: an item that is not a (name, tensor) pair');
    const [name, tensor] = pair as [string, unknown];
    const ref = isPerRank(tensor) ? rankTensor(tensor, tpRank, name) : tensor;
    return wholeTensor(name, asRef(ref, name));
  });
}

function isPerRank(value: unknown): value is PerRankTensor {
  return (value as PerRankTensor)?.kind === 'per-rank';
}

function rankTensor(tensor: PerRankTensor, tpRank: number, name: string): unknown {
  const value = tensor.values[tpRank];
  if (value === undefined)
    throw new PickleRefused(`serialized tensors: ${name} has no value for rank ${tpRank}`);
  const bytes = typeof value === 'string' ? base64Bytes(value) : value;
  return readPickle(bytes, torchGlobals);
}

function asRef(value: unknown, name: string): TensorRef {
  const ref = value as TensorRef;
  if (typeof ref?.storage !== 'object' || !Array.isArray(ref.shape))
    throw new PickleRefused(`serialized tensors: ${name} is not a tensor`);
  return ref;
}

/** A whole tensor: its elements, contiguous, inside its storage. */
function wholeTensor(name: string, ref: TensorRef): PickledTensor {
  if (ref.dtype === 'uint8')
    throw new PickleRefused(`serialized tensors: ${name} has dtype uint8, not a float type`);
  return span(name, ref.dtype, ref.shape, ref, 0, elementCount(ref.shape));
}

/** Elements [from, from + count) of a contiguous ref, as a tensor of `shape` in `dtype`. */
function span(
  name: string,
  dtype: TensorDtype,
  shape: number[],
  ref: TensorRef,
  from: number,
  count: number,
): PickledTensor {
  if (!isContiguous(ref.shape, ref.stride))
    throw new PickleRefused(
      `serialized tensors: ${name} (shape [${ref.shape}], strides [${ref.stride}]) is not contiguous`,
    );
  const elementBytes = REF_DTYPE_BYTES[ref.dtype];
  const byteOffset = (ref.offset + from) * elementBytes;
  const byteLength = count * elementBytes;
  if (byteOffset + byteLength > ref.storage.bytes)
    throw new PickleRefused(
      `serialized tensors: ${name} (${byteLength} bytes at byte ${byteOffset}) overruns its storage of ${ref.storage.bytes}`,
    );
  return { name, dtype, shape, storage: ref.storage, byteOffset, byteLength };
}

function isContiguous(shape: readonly number[], stride: readonly number[]): boolean {
  if (stride.length !== shape.length) return false;
  let expected = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if ((shape[i] as number) > 1 && stride[i] !== expected) return false;
    expected *= shape[i] as number;
  }
  return true;
}

/**
 * A flattened bucket's tensors. SGLang's current buckets are bytes (uint8; start and end in
 * bytes, each entry of its own dtype); older ones are of one float dtype, start and end in its
 * elements (the entry's dtype then only says what the sender cast from).
 */
function bucketTensors(value: unknown): PickledTensor[] {
  if (!(value instanceof Map))
    throw new PickleRefused('flattened bucket: not a dict of flattened_tensor and metadata');
  const flat = asRef(value.get('flattened_tensor'), 'flattened_tensor');
  const metadata = value.get('metadata');
  if (flat.shape.length !== 1)
    throw new PickleRefused(
      `flattened bucket: flattened_tensor has shape [${flat.shape}], not 1-D`,
    );
  if (!Array.isArray(metadata) || metadata.length === 0)
    throw new PickleRefused('flattened bucket: metadata is not a non-empty list');
  const size = flat.shape[0] as number;
  return metadata.map((item) => {
    const entry = item instanceof Map ? bucketEntryOf(item) : (item as BucketEntry);
    if (entry?.kind !== 'bucket-entry')
      throw new PickleRefused(
        'flattened bucket: a metadata item that is not FlattenedTensorMetadata',
      );
    const bytes = flat.dtype === 'uint8';
    const count = entry.end - entry.start;
    const expected = elementCount(entry.shape) * (bytes ? REF_DTYPE_BYTES[entry.dtype] : 1);
    if (entry.end > size || count !== expected || count !== entry.numel)
      throw new PickleRefused(
        `flattened bucket: ${entry.name} spans [${entry.start}, ${entry.end}) with numel ${entry.numel}; ` +
          `its shape [${entry.shape}] of ${entry.dtype} needs ${expected} of the bucket's ${size}`,
      );
    const dtype = bytes ? entry.dtype : (flat.dtype as TensorDtype);
    return span(entry.name, dtype, entry.shape, flat, entry.start, count);
  });
}
