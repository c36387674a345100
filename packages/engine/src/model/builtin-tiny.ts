import { expectedLlamaTensors } from './loader/llama-weights.js';
import { type ModelConfig, parseModelConfig } from './loader/model-config.js';
import type { OpenedCheckpoint } from './loader/open-checkpoint.js';
import { elementCount, type TensorSource } from './loader/tensor-source.js';

/** The embedded default model's config: a small Llama over byte tokens (256 bytes, BOS, EOS). */
export const BUILTIN_TINY_CONFIG = {
  architectures: ['LlamaForCausalLM'],
  hidden_size: 128,
  intermediate_size: 256,
  num_hidden_layers: 4,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  vocab_size: 258,
  max_position_embeddings: 4096,
  rms_norm_eps: 1e-5,
  rope_theta: 10000,
  tie_word_embeddings: true,
  bos_token_id: 256,
  eos_token_id: 257,
  torch_dtype: 'float32',
};

/** xorshift32 seeded from a string: the same name and seed always give the same weights. */
function generator(name: string, seed: number): () => number {
  let state = seed >>> 0 || 1;
  for (const ch of name) state = Math.imul(state ^ ch.charCodeAt(0), 0x9e3779b1) >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 0x100000000;
  };
}

function syntheticTensor(name: string, shape: readonly number[], seed: number): TensorSource {
  const count = elementCount(shape);
  const isNorm = name.endsWith('norm.weight');
  return {
    name,
    shape,
    dtype: 'float32',
    byteLength: count * 4,
    read: async (into) => {
      const values = new Float32Array(into.buffer, into.byteOffset, count);
      const next = generator(name, seed);
      for (let i = 0; i < count; i++) {
        const centred = (next() + next() + next() - 1.5) * 0.04;
        values[i] = isNorm ? 1 + centred : centred;
      }
    },
  };
}

/**
 * A checkpoint of seeded random float32 weights for a Hugging Face config (as parsed from
 * config.json), built in memory as each tensor is read; `source` names it in config errors.
 */
export function syntheticCheckpoint(
  configJson: Readonly<Record<string, unknown>>,
  seed: number,
  source = 'synthetic checkpoint',
): OpenedCheckpoint {
  const config: ModelConfig = parseModelConfig(configJson, source);
  const tensors = expectedLlamaTensors(config).required.map((t) =>
    syntheticTensor(t.name, t.shape, seed),
  );
  return { format: 'hf-safetensors', config, tensors, warnings: [], close: async () => {} };
}

/** `builtin:tiny`: seeded random weights built in memory; no file, no download. */
export function openBuiltinTiny(seed = 0): OpenedCheckpoint {
  return syntheticCheckpoint(BUILTIN_TINY_CONFIG, seed, 'builtin:tiny');
}
