import { DTYPE_BYTES, type TensorDtype, type TensorInfo } from '../loader/tensor-source.js';

/** Where one named tensor sits in the weights allocation. */
export interface WeightSlot {
  name: string;
  shape: number[];
  offset: number;
  byteLength: number;
}

export interface WeightLayout {
  dtype: TensorDtype;
  totalBytes: number;
  slots: Map<string, WeightSlot>;
}

const ALIGN = 256;

/** Tensors placed back to back, so one GEMM can treat them as one [sum of rows, k] matrix. */
const FUSED_GROUPS: RegExp[] = [
  /^(model\.layers\.\d+\.self_attn\.)[qkv]_proj\.weight$/,
  /^(model\.layers\.\d+\.self_attn\.)[qkv]_proj\.bias$/,
  /^(model\.layers\.\d+\.mlp\.)(gate|up)_proj\.weight$/,
];

function groupOf(name: string): string | null {
  for (const [index, pattern] of FUSED_GROUPS.entries()) {
    const match = pattern.exec(name);
    if (match) return `${index}:${match[1]}`;
  }
  return null;
}

/**
 * Lays out every expected tensor in one allocation, in the given order: q/k/v (weights and
 * biases) and gate/up are packed with no gap so they act as fused matrices; everything else
 * starts on a 256-byte boundary.
 */
export function layOutWeights(tensors: readonly TensorInfo[], dtype: TensorDtype): WeightLayout {
  const slots = new Map<string, WeightSlot>();
  let offset = 0;
  let previousGroup: string | null = null;
  for (const { name, shape } of tensors) {
    const group = groupOf(name);
    if (group === null || group !== previousGroup) offset = Math.ceil(offset / ALIGN) * ALIGN;
    const byteLength = shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[dtype];
    slots.set(name, { name, shape: [...shape], offset, byteLength });
    offset += byteLength;
    previousGroup = group;
  }
  return { dtype, totalBytes: Math.ceil(offset / ALIGN) * ALIGN, slots };
}

export function slotOf(layout: WeightLayout, name: string): WeightSlot {
  const slot = layout.slots.get(name);
  if (!slot) throw new Error(`no weight named ${name} in this model`);
  return slot;
}
