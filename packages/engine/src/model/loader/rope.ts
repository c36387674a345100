import type { ConfigFields } from './config-fields.js';

/** How the rotary frequencies are stretched for long contexts. */
export type RopeScaling =
  | { readonly type: 'none' }
  | { readonly type: 'linear'; readonly factor: number }
  | {
      readonly type: 'llama3';
      readonly factor: number;
      readonly lowFreqFactor: number;
      readonly highFreqFactor: number;
      readonly originalMaxPositionEmbeddings: number;
    };

/** What `inverseFrequencies` needs of a model config. */
export interface RopeSettings {
  readonly headDim: number;
  readonly ropeTheta: number;
  readonly ropeScaling: RopeScaling;
}

/**
 * Reads `rope_scaling` (or transformers 5's `rope_parameters`): absent, null or rope_type
 * "default" is no scaling; "linear" and "llama3" are read with their fields; any other type fails.
 */
export function parseRopeScaling(config: ConfigFields): RopeScaling {
  const scaling = config.objectOr('rope_scaling') ?? config.objectOr('rope_parameters');
  if (scaling === null) return { type: 'none' };
  const type = scaling.stringOr('rope_type', null) ?? scaling.stringOr('type', 'default');
  switch (type) {
    case 'default':
      return { type: 'none' };
    case 'linear':
      return { type: 'linear', factor: scaling.positiveNumber('factor') };
    case 'llama3': {
      const lowFreqFactor = scaling.positiveNumber('low_freq_factor');
      const highFreqFactor = scaling.positiveNumber('high_freq_factor');
      if (highFreqFactor <= lowFreqFactor) {
        scaling.fail('high_freq_factor must be greater than low_freq_factor');
      }
      return {
        type: 'llama3',
        factor: scaling.positiveNumber('factor'),
        lowFreqFactor,
        highFreqFactor,
        originalMaxPositionEmbeddings: scaling.positiveInt('original_max_position_embeddings'),
      };
    }
    default:
      return scaling.fail(`unsupported rope type "${type}" (supported: default, linear, llama3)`);
  }
}

/** rope_theta, from transformers 5's `rope_parameters` or the top level; 10000 when absent. */
export function parseRopeTheta(config: ConfigFields): number {
  const parameters = config.objectOr('rope_parameters');
  if (parameters?.has('rope_theta')) return parameters.positiveNumber('rope_theta');
  return config.positiveNumberOr('rope_theta', 10000);
}

const f32 = Math.fround;

/**
 * The rotary inverse frequencies, length headDim / 2: θ^(-2i/headDim), then scaled as
 * transformers' `_compute_default_rope_parameters`, `_compute_linear_scaling_rope_parameters`
 * and `_compute_llama3_parameters` do, rounding to float32 at each step as torch does.
 */
export function inverseFrequencies(config: RopeSettings): Float32Array {
  const dim = config.headDim;
  const inv = new Float32Array(dim / 2);
  for (let i = 0; i < inv.length; i++) {
    inv[i] = f32(1 / f32(config.ropeTheta ** f32((2 * i) / dim)));
  }
  const scaling = config.ropeScaling;
  if (scaling.type === 'linear') {
    for (let i = 0; i < inv.length; i++) inv[i] = f32((inv[i] as number) / scaling.factor);
  } else if (scaling.type === 'llama3') {
    applyLlama3Scaling(inv, scaling);
  }
  return inv;
}

function applyLlama3Scaling(
  inv: Float32Array,
  scaling: Extract<RopeScaling, { type: 'llama3' }>,
): void {
  const { factor, lowFreqFactor, highFreqFactor } = scaling;
  const oldContext = scaling.originalMaxPositionEmbeddings;
  const lowFreqWavelen = oldContext / lowFreqFactor;
  const highFreqWavelen = oldContext / highFreqFactor;
  for (let i = 0; i < inv.length; i++) {
    const freq = inv[i] as number;
    const wavelen = f32((2 * Math.PI) / freq);
    if (wavelen > lowFreqWavelen) {
      inv[i] = f32(freq / factor);
    } else if (wavelen >= highFreqWavelen) {
      const smooth = f32(
        f32(f32(oldContext / wavelen) - lowFreqFactor) / (highFreqFactor - lowFreqFactor),
      );
      inv[i] = f32(f32(f32(f32(1 - smooth) * freq) / factor) + f32(smooth * freq));
    }
  }
}
