import { DTYPE_BYTES, type TensorDtype } from '../../loader/tensor-source.js';
import {
  type PickleCallable,
  type PickleClass,
  type PickleGlobal,
  PickleRefused,
} from './pickle-machine.js';

/** A CPU storage torch shares by file (its `file_system` strategy): a shared-memory name. */
export interface SharedFileStorage {
  kind: 'shared-file';
  /** The shared-memory object's name, e.g. `/torch_7817_2251685890_0` (under /dev/shm). */
  name: string;
  bytes: number;
}

/** A CUDA storage shared by an IPC handle (torch's `rebuild_cuda_tensor` arguments). */
export interface CudaIpcStorage {
  kind: 'cuda-ipc';
  /** The sender's device index, or its UUID where SGLang's patched reductions sent that. */
  device: number | string;
  /** cudaIpcMemHandle_t of the allocation holding the storage. */
  handle: Uint8Array;
  bytes: number;
  /** Where the storage starts in that allocation. */
  offsetBytes: number;
  /** cudaIpcEventHandle_t to wait on before reading, when the sender recorded one. */
  event: Uint8Array | null;
  /** The sender's count of readers of this storage, which the reader lowers when done. */
  refCounter: IpcRefCounter;
}

/**
 * One counter in a ref-counter file of torch's CUDA IPC (a shared-memory object): the sender
 * keeps its block allocated until the count falls to 0.
 */
export interface IpcRefCounter {
  /** The shared-memory object's name, e.g. `/torch_7817_2251685890_0` (under /dev/shm). */
  name: string;
  /** Which int64 counter of the object. */
  slot: number;
}

/** torch's CUDA_IPC_REF_COUNTER_FILE_SIZE: the counters in one ref-counter file. */
export const IPC_REF_COUNTERS_PER_FILE = 10_000;

/** A tensor's element type: a weight's float type, or bytes (a flattened bucket's). */
export type RefDtype = TensorDtype | 'uint8';

export const REF_DTYPE_BYTES: Readonly<Record<RefDtype, number>> = { ...DTYPE_BYTES, uint8: 1 };

/** One tensor of the pickle: where its elements are, never the elements themselves. */
export interface TensorRef {
  dtype: RefDtype;
  shape: number[];
  stride: number[];
  /** In elements, from the storage's start. */
  offset: number;
  storage: SharedFileStorage | CudaIpcStorage;
}

/** A tensor in a flattened bucket: its bytes are the bucket's from `start` to `end`. */
export interface BucketEntry {
  kind: 'bucket-entry';
  name: string;
  shape: number[];
  dtype: TensorDtype;
  /** In the bucket tensor's elements (bytes for SGLang's uint8 buckets). */
  start: number;
  end: number;
  numel: number;
}

/** SGLang's `LocalSerializedTensor`: one serialized tensor per tensor-parallel rank. */
export interface PerRankTensor {
  kind: 'per-rank';
  /** Each a pickle of one tensor (base64 text where the sender made strings). */
  values: (Uint8Array | string)[];
}

const DTYPES: Readonly<Record<string, RefDtype>> = {
  float32: 'float32',
  bfloat16: 'bfloat16',
  float16: 'float16',
  uint8: 'uint8',
};

interface TypedStorage {
  untyped: SharedFileStorage;
  dtype: RefDtype;
}

const isGlobal = (value: unknown, module: string, name: string): boolean =>
  typeof value === 'object' &&
  value !== null &&
  (value as PickleGlobal).module === module &&
  (value as PickleGlobal).name === name;

function dtypeOf(value: unknown): RefDtype {
  const g = value as PickleGlobal;
  const dtype = g?.module === 'torch' ? DTYPES[g.name] : undefined;
  if (!dtype)
    throw new PickleRefused('pickle: a tensor dtype other than float32, bfloat16, float16, uint8');
  return dtype;
}

function floatDtypeOf(value: unknown, what: string): TensorDtype {
  const dtype = dtypeOf(value);
  if (dtype === 'uint8') throw new PickleRefused(`pickle: ${what} of dtype uint8`);
  return dtype;
}

function ints(value: unknown, what: string): number[] {
  if (!Array.isArray(value) || !value.every((n) => Number.isSafeInteger(n) && n >= 0))
    throw new PickleRefused(`pickle: ${what} is not a list of integers`);
  return value as number[];
}

function count(value: unknown, what: string): number {
  if (!Number.isSafeInteger(value) || (value as number) < 0)
    throw new PickleRefused(`pickle: ${what} is not an integer`);
  return value as number;
}

function bytesOf(value: unknown, what: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new PickleRefused(`pickle: ${what} is not bytes`);
  return value;
}

const REDUCTIONS = 'torch.multiprocessing.reductions';

/** What each allow-listed callable builds. */
const CALLABLES: Readonly<Record<string, PickleCallable>> = {
  'torch.Size': ([dims]) => ints(dims, 'a torch.Size'),
  'collections.OrderedDict': () => new Map(),
  [`${REDUCTIONS}.rebuild_storage_filename`]: ([cls, , name, bytes]): SharedFileStorage => {
    if (!isGlobal(cls, 'torch.storage', 'UntypedStorage'))
      throw new PickleRefused('pickle: a shared file that is not an UntypedStorage');
    return {
      kind: 'shared-file',
      name: sharedMemoryName(name),
      bytes: count(bytes, 'a storage size'),
    };
  },
  [`${REDUCTIONS}.rebuild_typed_storage`]: ([untyped, dtype]): TypedStorage => {
    if ((untyped as SharedFileStorage)?.kind !== 'shared-file')
      throw new PickleRefused('pickle: a typed storage over something else');
    return { untyped: untyped as SharedFileStorage, dtype: dtypeOf(dtype) };
  },
  [`${REDUCTIONS}.rebuild_tensor`]: ([cls, storage, metadata]): TensorRef => {
    if (!isGlobal(cls, 'torch', 'Tensor') && !isGlobal(cls, 'torch.nn.parameter', 'Parameter'))
      throw new PickleRefused('pickle: rebuild_tensor of a class other than Tensor');
    const typed = storage as TypedStorage;
    if (typed?.untyped?.kind !== 'shared-file' || !Array.isArray(metadata))
      throw new PickleRefused('pickle: rebuild_tensor without a shared storage');
    const [offset, shape, stride] = metadata;
    return {
      dtype: typed.dtype,
      shape: ints(shape, 'a shape'),
      stride: ints(stride, 'a stride'),
      offset: count(offset, 'a storage offset'),
      storage: typed.untyped,
    };
  },
  [`${REDUCTIONS}.rebuild_cuda_tensor`]: rebuildCudaTensor,
  // SGLang's patched reductions (slime and verl apply them): the device travels as its UUID.
  'sglang.srt.patch_torch._rebuild_cuda_tensor_modified': rebuildCudaTensor,
  'sglang.srt.utils.patch_torch._rebuild_cuda_tensor_modified': rebuildCudaTensor,
  [`${REDUCTIONS}.rebuild_storage_fd`]: () => {
    throw new PickleRefused(
      'pickle: CPU tensors shared by file descriptor cannot be read over HTTP: call ' +
        "torch.multiprocessing.set_sharing_strategy('file_system') before serializing",
    );
  },
};

function sharedMemoryName(name: unknown): string {
  const text = name instanceof Uint8Array ? new TextDecoder().decode(name) : name;
  if (typeof text !== 'string' || !/^\/torch_[\w-]+$/.test(text))
    throw new PickleRefused("pickle: a shared-memory name not of torch's form");
  return text;
}

function refCounterOf(name: unknown, slot: unknown): IpcRefCounter {
  const at = count(slot, 'a ref-counter offset');
  if (at >= IPC_REF_COUNTERS_PER_FILE)
    throw new PickleRefused('pickle: a ref-counter offset past the ref-counter file');
  return { name: sharedMemoryName(name), slot: at };
}

/** sizeof(cudaIpcMemHandle_t): the whole handle as torch before 2.2 sends it. */
const CUDA_IPC_HANDLE_BYTES = 64;
/** The newest version byte of torch's shareable handles whose 'c' payload is read here. */
const NEWEST_SHAREABLE_HANDLE_VERSION = 3;

/**
 * The cudaIpcMemHandle_t in torch's storage handle: 64 bytes as they are, or what its caching
 * allocator's `shareIpcHandle` writes, [version][type][payload], with type 'c' (a cudaMalloc
 * block: the 64-byte handle follows). Expandable segments ('e') are refused.
 */
function cudaIpcHandle(value: unknown): Uint8Array {
  const handle = bytesOf(value, 'an IPC handle');
  if (handle.byteLength === CUDA_IPC_HANDLE_BYTES) return handle;
  const [version = 0, type = 0] = handle;
  if (type === 'e'.charCodeAt(0))
    throw new PickleRefused(
      'pickle: a CUDA tensor in an expandable segment cannot be opened here: run the trainer ' +
        'without expandable_segments in PYTORCH_CUDA_ALLOC_CONF',
    );
  if (
    type !== 'c'.charCodeAt(0) ||
    handle.byteLength !== 2 + CUDA_IPC_HANDLE_BYTES ||
    version > NEWEST_SHAREABLE_HANDLE_VERSION
  )
    throw new PickleRefused(
      `pickle: a CUDA IPC handle of ${handle.byteLength} bytes, not one of torch's ` +
        `(version ${version} of at most ${NEWEST_SHAREABLE_HANDLE_VERSION}, type 'c')`,
    );
  return handle.subarray(2);
}

function rebuildCudaTensor(args: readonly unknown[]): TensorRef {
  const [cls, shape, stride, offset, , dtype, device, handle, bytes, offsetBytes] = args;
  const [refCounterName, refCounterSlot, event = null, eventSyncRequired = true] = args.slice(11);
  if (!isGlobal(cls, 'torch', 'Tensor') && !isGlobal(cls, 'torch.nn.parameter', 'Parameter'))
    throw new PickleRefused('pickle: rebuild_cuda_tensor of a class other than Tensor');
  return {
    dtype: dtypeOf(dtype),
    shape: ints(shape, 'a shape'),
    stride: ints(stride, 'a stride'),
    offset: count(offset, 'a storage offset'),
    storage: {
      kind: 'cuda-ipc',
      device: typeof device === 'string' ? device : count(device, 'a device'),
      handle: cudaIpcHandle(handle),
      bytes: count(bytes, 'a storage size'),
      offsetBytes: count(offsetBytes, 'a storage offset'),
      event: event === null || eventSyncRequired === false ? null : bytesOf(event, 'an IPC event'),
      refCounter: refCounterOf(refCounterName, refCounterSlot),
    },
  };
}

function stateField(state: Map<unknown, unknown>, key: string): unknown {
  if (!state.has(key)) throw new PickleRefused(`pickle: an object without its ${key}`);
  return state.get(key);
}

/**
 * SGLang's FlattenedTensorMetadata from its dataclass fields (or a dict of them, as some
 * senders write it).
 */
export function bucketEntryOf(state: Map<unknown, unknown>): BucketEntry {
  const name = stateField(state, 'name');
  if (typeof name !== 'string') throw new PickleRefused('pickle: a bucket entry without a name');
  return {
    kind: 'bucket-entry',
    name,
    shape: ints(stateField(state, 'shape'), 'a shape'),
    dtype: floatDtypeOf(stateField(state, 'dtype'), 'a bucket entry'),
    start: count(stateField(state, 'start_idx'), 'a start_idx'),
    end: count(stateField(state, 'end_idx'), 'an end_idx'),
    numel: count(stateField(state, 'numel'), 'a numel'),
  };
}

const bucketMetadata: PickleClass = { fields: bucketEntryOf };

/** SGLang's LocalSerializedTensor (a dataclass). */
const perRankTensor: PickleClass = {
  fields: (state): PerRankTensor => {
    const values = stateField(state, 'values');
    if (
      !Array.isArray(values) ||
      values.length === 0 ||
      !values.every((v) => v instanceof Uint8Array || typeof v === 'string')
    )
      throw new PickleRefused('pickle: a LocalSerializedTensor without serialized values');
    return { kind: 'per-rank', values };
  },
};

/** The classes NEWOBJ may make, where SGLang's releases define them. */
const CLASSES: Readonly<Record<string, PickleClass>> = {
  'sglang.srt.weight_sync.tensor_bucket.FlattenedTensorMetadata': bucketMetadata,
  'sglang.srt.model_executor.model_runner.FlattenedTensorMetadata': bucketMetadata,
  'sglang.srt.model_executor.model_runner.LocalSerializedTensor': perRankTensor,
  'sglang.srt.model_executor.weight_updater.LocalSerializedTensor': perRankTensor,
};

/** Globals passed only as arguments. */
const VALUES = new Set([
  'torch.Tensor',
  'torch.nn.parameter.Parameter',
  'torch.storage.UntypedStorage',
  'torch.storage.TypedStorage',
  ...Object.keys(DTYPES).map((d) => `torch.${d}`),
]);

/** The allow-list of the globals a ForkingPickler writes for named tensors; all else refused. */
export function torchGlobals(g: PickleGlobal): PickleCallable | PickleClass | null {
  const name = `${g.module}.${g.name}`;
  const call = CALLABLES[name] ?? CLASSES[name];
  if (call) return call;
  if (VALUES.has(name)) return null;
  throw new PickleRefused(`pickle: the global ${name} is not allowed`);
}
