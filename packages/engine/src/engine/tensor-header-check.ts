import { CheckpointError } from '../model/loader/checkpoint-error.js';
import { sameShape } from '../model/loader/llama-weights.js';
import { formatShape, type TensorInfo } from '../model/loader/tensor-source.js';

/** A pushed tensor as its header describes it: no data yet. */
export interface TensorHeader {
  readonly name: string;
  readonly shape: readonly number[];
}

/**
 * Throws a `CheckpointError` listing every header entry the model cannot take (unknown name,
 * given twice, other shape) — checked before the body's data is read.
 */
export function checkTensorHeaders(
  weights: readonly TensorInfo[],
  headers: readonly TensorHeader[],
): void {
  const shapes = new Map(weights.map((w) => [w.name, w.shape]));
  const seen = new Set<string>();
  const problems: string[] = [];
  for (const { name, shape } of headers) {
    const expected = shapes.get(name);
    if (expected === undefined) problems.push(`the model has no parameter ${name}`);
    else if (seen.has(name)) problems.push(`${name} is given twice`);
    else if (!sameShape(shape, expected))
      problems.push(`${name} has shape ${formatShape(shape)}, expected ${formatShape(expected)}`);
    seen.add(name);
  }
  if (headers.length === 0) problems.push('give at least one named tensor');
  if (problems.length > 0) throw new CheckpointError(`tensors: ${problems.slice(0, 8).join('; ')}`);
}
