import type { DeviceKind } from '@ts/memory-saver-native';
import type { TensorDtype } from './loader/tensor-source.js';

/** `--dtype`: a dtype, or `auto` (SGLang's and vLLM's default). */
export type DtypeChoice = TensorDtype | 'auto';

export const DTYPE_CHOICES: readonly DtypeChoice[] = ['auto', 'float32', 'bfloat16', 'float16'];

/**
 * The dtype a rank computes in. `auto` takes the checkpoint's own (config.json's `torch_dtype`)
 * on a GPU, except that a float32 or unstated one runs in bfloat16 there; the CPU always
 * computes in float32 under `auto`. An explicit dtype is taken as it is.
 */
export function servingDtype(
  choice: DtypeChoice,
  checkpointDtype: TensorDtype | null,
  device: DeviceKind,
): TensorDtype {
  if (choice !== 'auto') return choice;
  if (device === 'cpu') return 'float32';
  return checkpointDtype === 'float16' ? 'float16' : 'bfloat16';
}
