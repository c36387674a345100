import { countNonFinite, type NonFiniteCount } from '@ts/memory-saver-native';
import { CheckpointError } from '../loader/checkpoint-error.js';
import type { TensorDtype } from '../loader/tensor-source.js';

/** What the weight loaders check in the bytes they read, before anything is committed. */
export interface WeightChecks {
  /**
   * Load tensors holding NaN or ±Inf as they are. Default false: such a tensor fails the load
   * or the update (a NaN weight makes every logit NaN, and greedy decoding then says token 0).
   */
  allowNonFinite?: boolean;
}

/**
 * Throws a `CheckpointError` naming the tensor and the count when `bytes` (the tensor `name`
 * as read, in its source dtype, before any conversion) hold NaN or ±Inf, unless
 * `checks.allowNonFinite`. The scan is native (`countNonFinite`), off the event loop, at about
 * memory bandwidth; it reads `bytes` and changes nothing.
 */
export async function refuseNonFinite(
  name: string,
  bytes: Uint8Array,
  dtype: TensorDtype,
  checks: WeightChecks,
): Promise<void> {
  if (checks.allowNonFinite) return;
  const found = await countNonFinite(bytes, dtype);
  if (found.count > 0) throw nonFiniteError(name, found);
}

/** The refusal of tensor `name` for what a non-finite scan found in it. */
export function nonFiniteError(name: string, { count, first }: NonFiniteCount): CheckpointError {
  return new CheckpointError(
    `${name} has ${count} non-finite value${count === 1 ? '' : 's'} (NaN/Inf; the first at ` +
      `element ${first}); pass --allow-non-finite-weights (launch option allowNonFiniteWeights) ` +
      'to load it anyway',
  );
}
