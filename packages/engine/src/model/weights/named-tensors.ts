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

/** One parameter pushed from memory (a trainer's tensor), as `updateWeightsFromTensors` takes it. */
export interface NamedTensor {
  /** The Hugging Face parameter name, e.g. `model.layers.0.mlp.up_proj.weight`. */
  name: string;
  dtype: TensorDtype;
  shape: number[];
  /** Little-endian, row-major bytes: elements × the dtype's size. */
  data: Uint8Array;
}

/**
 * Checks pushed tensors against the model before anything is written: every name known and
 * given once, every shape the model's, every dtype a float type whose bytes fill the shape.
 * Throws a `CheckpointError` listing the problems. Returns them as sources for the loaders
 * (converted to the weights' dtype on the way), and whether they cover every parameter.
 */
export function tensorSources(
  expected: ExpectedTensors,
  tensors: readonly NamedTensor[],
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
    else if (!(t.data instanceof Uint8Array)) problems.push(`${t.name}: data must be a Uint8Array`);
    else if (t.data.byteLength !== elementCount(shape) * bytesPerElement)
      problems.push(
        `${t.name} holds ${t.data.byteLength} bytes, ${formatShape(shape)} of ${t.dtype} is ${elementCount(shape) * bytesPerElement}`,
      );
    if (t?.name !== undefined) seen.add(t.name);
  }
  if (problems.length > 0) throw new CheckpointError(`tensors: ${problems.join('; ')}`);
  const sources = tensors.map(
    (t): TensorSource => ({
      name: t.name,
      shape: t.shape,
      dtype: t.dtype,
      byteLength: t.data.byteLength,
      read: async (into) => into.set(t.data),
    }),
  );
  return { sources, complete: seen.size === shapes.size };
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
