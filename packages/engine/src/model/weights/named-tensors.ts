import type { IpcMemory } from '@ts/memory-saver-native';
import { CheckpointError } from '../loader/checkpoint-error.js';
import { type ExpectedTensors, sameShape } from '../loader/llama-weights.js';
import { parseSafetensorsBytes } from '../loader/safetensors.js';
import {
  DTYPE_BYTES,
  elementCount,
  formatShape,
  type TensorDtype,
  type TensorSource,
} from '../loader/tensor-source.js';

interface TensorMeta {
  /** The Hugging Face parameter name, e.g. `model.layers.0.mlp.up_proj.weight`. */
  name: string;
  dtype: TensorDtype;
  shape: number[];
}

/** A tensor whose bytes are here. */
export interface HostTensor extends TensorMeta {
  /** Little-endian, row-major bytes: elements × the dtype's size. */
  data: Uint8Array;
  ipc?: undefined;
}

/** A tensor whose bytes another process shares by CUDA IPC; the rank reads them. */
export interface IpcTensor extends TensorMeta {
  ipc: IpcMemory & {
    /** Where the tensor's bytes start in the shared memory. */
    offset: number;
    byteLength: number;
  };
  data?: undefined;
}

/** One parameter pushed from memory (a trainer's tensor), as `updateWeightsFromTensors` takes it. */
export type NamedTensor = HostTensor | IpcTensor;

/** Reads an IPC tensor's bytes into `into` (the rank's saver does). */
export type IpcReader = (ipc: IpcTensor['ipc'], into: Uint8Array) => Promise<void>;

/**
 * Checks pushed tensors against the model before anything is written: every name known and
 * given once, every shape the model's, every dtype a float type whose bytes fill the shape.
 * Throws a `CheckpointError` listing the problems. Returns them as sources for the loaders
 * (converted to the weights' dtype on the way), and whether they cover every parameter.
 */
export function tensorSources(
  expected: ExpectedTensors,
  tensors: readonly NamedTensor[],
  readIpc?: IpcReader,
): { sources: TensorSource[]; complete: boolean } {
  if (!Array.isArray(tensors) || tensors.length === 0)
    throw new CheckpointError('tensors: give at least one named tensor');
  const shapes = new Map(expected.required.map((t) => [t.name, t.shape]));
  const seen = new Set<string>();
  const problems: string[] = [];
  for (const t of tensors) {
    const shape = shapes.get(t?.name);
    const bytesPerElement = Object.hasOwn(DTYPE_BYTES, t?.dtype)
      ? DTYPE_BYTES[t.dtype as TensorDtype]
      : undefined;
    if (shape === undefined) problems.push(`the model has no parameter ${String(t?.name)}`);
    else if (seen.has(t.name)) problems.push(`${t.name} is given twice`);
    else if (!Array.isArray(t.shape) || !sameShape(t.shape, shape))
      problems.push(
        `${t.name} has shape ${formatShape(t.shape ?? [])}, expected ${formatShape(shape)}`,
      );
    else if (bytesPerElement === undefined)
      problems.push(`${t.name} has dtype ${String(t.dtype)}: float32, bfloat16 or float16`);
    else if (t.ipc !== undefined && !readIpc)
      problems.push(`${t.name} is shared by CUDA IPC, which only a rank reads`);
    else if (t.ipc === undefined && !(t.data instanceof Uint8Array))
      problems.push(`${t.name}: data must be a Uint8Array`);
    else if (byteLengthOf(t) !== elementCount(shape) * bytesPerElement)
      problems.push(
        `${t.name} holds ${byteLengthOf(t)} bytes, ${formatShape(shape)} of ${t.dtype} is ${elementCount(shape) * bytesPerElement}`,
      );
    if (t?.name !== undefined) seen.add(t.name);
  }
  if (problems.length > 0) throw new CheckpointError(`tensors: ${problems.join('; ')}`);
  const sources = tensors.map(
    (t): TensorSource => ({
      name: t.name,
      shape: t.shape,
      dtype: t.dtype,
      byteLength: byteLengthOf(t),
      read: async (into) =>
        t.ipc ? (readIpc as IpcReader)(t.ipc, into) : into.set(t.data as Uint8Array),
    }),
  );
  return { sources, complete: seen.size === shapes.size };
}

function byteLengthOf(t: NamedTensor): number {
  return t.ipc ? t.ipc.byteLength : t.data.byteLength;
}

/**
 * The tensors of a safetensors file held in memory (what `safetensors.torch.save` returns), as
 * named tensors viewing those bytes; `what` names the bytes in errors.
 */
export function namedTensorsFromSafetensors(bytes: Uint8Array, what: string): NamedTensor[] {
  const { entries, dataStart } = parseSafetensorsBytes(bytes, what);
  return entries.map((e) => ({
    name: e.name,
    dtype: e.dtype,
    shape: [...e.shape],
    data: bytes.subarray(dataStart + e.begin, dataStart + e.end),
  }));
}
