import type { TensorDtype } from '../../loader/tensor-source.js';
import { type PickleCallable, type PickleGlobal, PickleRefused } from './pickle-machine.js';

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
  device: number;
  /** cudaIpcMemHandle_t of the allocation holding the storage. */
  handle: Uint8Array;
  bytes: number;
  /** Where the storage starts in that allocation. */
  offsetBytes: number;
  /** cudaIpcEventHandle_t to wait on before reading, when the sender recorded one. */
  event: Uint8Array | null;
}

/** One tensor of the pickle: where its elements are, never the elements themselves. */
export interface TensorRef {
  dtype: TensorDtype;
  shape: number[];
  stride: number[];
  /** In elements, from the storage's start. */
  offset: number;
  storage: SharedFileStorage | CudaIpcStorage;
}

const DTYPES: Readonly<Record<string, TensorDtype>> = {
  float32: 'float32',
  bfloat16: 'bfloat16',
  float16: 'float16',
};

interface TypedStorage {
  untyped: SharedFileStorage;
  dtype: TensorDtype;
}

const isGlobal = (value: unknown, module: string, name: string): boolean =>
  typeof value === 'object' &&
  value !== null &&
  (value as PickleGlobal).module === module &&
  (value as PickleGlobal).name === name;

function dtypeOf(value: unknown): TensorDtype {
  const g = value as PickleGlobal;
  const dtype = g?.module === 'torch' ? DTYPES[g.name] : undefined;
  if (!dtype)
    throw new PickleRefused('pickle: a tensor dtype other than float32, bfloat16, float16');
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
    const text = name instanceof Uint8Array ? new TextDecoder().decode(name) : name;
    if (typeof text !== 'string' || !/^\/torch_[\w-]+$/.test(text))
      throw new PickleRefused("pickle: a shared-memory name not of torch's form");
    return { kind: 'shared-file', name: text, bytes: count(bytes, 'a storage size') };
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
  [`${REDUCTIONS}.rebuild_cuda_tensor`]: (args): TensorRef => {
    const [cls, shape, stride, offset, , dtype, device, handle, bytes, offsetBytes] = args;
    const event = args[13];
    if (!isGlobal(cls, 'torch', 'Tensor') && !isGlobal(cls, 'torch.nn.parameter', 'Parameter'))
      throw new PickleRefused('pickle: rebuild_cuda_tensor of a class other than Tensor');
    return {
      dtype: dtypeOf(dtype),
      shape: ints(shape, 'a shape'),
      stride: ints(stride, 'a stride'),
      offset: count(offset, 'a storage offset'),
      storage: {
        kind: 'cuda-ipc',
        device: count(device, 'a device'),
        handle: bytesOf(handle, 'an IPC handle'),
        bytes: count(bytes, 'a storage size'),
        offsetBytes: count(offsetBytes, 'a storage offset'),
        event: event === null ? null : bytesOf(event, 'an IPC event'),
      },
    };
  },
};

/** Globals passed only as arguments. */
const VALUES = new Set([
  'torch.Tensor',
  'torch.nn.parameter.Parameter',
  'torch.storage.UntypedStorage',
  ...Object.keys(DTYPES).map((d) => `torch.${d}`),
]);

/** The allow-list of the globals a ForkingPickler writes for named tensors; all else refused. */
export function torchGlobals(g: PickleGlobal): PickleCallable | null {
  const name = `${g.module}.${g.name}`;
  const call = CALLABLES[name];
  if (call) return call;
  if (VALUES.has(name)) return null;
  throw new PickleRefused(`pickle: the global ${name} is not allowed`);
}
