import { basename, resolve } from 'node:path';
import { syntheticCheckpoint } from '../model/builtin-tiny.js';
import type { ModelConfig } from '../model/loader/model-config.js';
import { type OpenedCheckpoint, openCheckpoint } from '../model/loader/open-checkpoint.js';
import { DTYPE_BYTES, elementCount, type TensorDtype } from '../model/loader/tensor-source.js';

const LLAMA_COMMON = {
  architectures: ['LlamaForCausalLM'],
  max_position_embeddings: 4096,
  rms_norm_eps: 1e-5,
  rope_theta: 10000,
  tie_word_embeddings: true,
  bos_token_id: 1,
  eos_token_id: 2,
  torch_dtype: 'float32',
};

/**
 * Random Llamas built in memory (seeded, no file): `random:100m` for CPU runs (100.1M
 * parameters, tied embeddings) and `random:1b`, the shape of Llama 3.2 1B (1.24B).
 */
export const RANDOM_MODELS: Readonly<Record<string, Readonly<Record<string, unknown>>>> = {
  'random:100m': {
    ...LLAMA_COMMON,
    hidden_size: 768,
    intermediate_size: 2048,
    num_hidden_layers: 12,
    num_attention_heads: 12,
    num_key_value_heads: 4,
    vocab_size: 32000,
  },
  'random:1b': {
    ...LLAMA_COMMON,
    hidden_size: 2048,
    intermediate_size: 8192,
    num_hidden_layers: 16,
    num_attention_heads: 32,
    num_key_value_heads: 8,
    vocab_size: 128256,
    rope_theta: 500000,
  },
};

/**
 * A `random:*` name from RANDOM_MODELS, or a checkpoint path (HF directory or llama2.c .bin),
 * relative to where pnpm was started (INIT_CWD), not to this package.
 */
export async function openBenchModel(model: string, seed = 0): Promise<OpenedCheckpoint> {
  const randomConfig = RANDOM_MODELS[model];
  if (randomConfig !== undefined) return syntheticCheckpoint(randomConfig, seed, model);
  if (model.startsWith('random:')) {
    const names = Object.keys(RANDOM_MODELS).join(', ');
    throw new Error(`unknown random model ${model} (known: ${names})`);
  }
  return openCheckpoint(resolve(process.env.INIT_CWD ?? process.cwd(), model));
}

/** The model's name in the table: the random model's, or the checkpoint's file or folder. */
export const benchModelLabel = (model: string): string =>
  model in RANDOM_MODELS ? model : basename(model);

/** What the bench reports of a model's size. */
export interface ModelSize {
  parameters: number;
  /** Every weight byte at `dtype`. */
  weightBytes: number;
  /**
   * Weight bytes one decode step reads: all of them, except an untied embedding table, of
   * which a step reads only one row per sequence.
   */
  bytesPerDecodeStep: number;
}

export function modelSize(checkpoint: OpenedCheckpoint, dtype: TensorDtype): ModelSize {
  const bytes = DTYPE_BYTES[dtype];
  let parameters = 0;
  let embedding = 0;
  for (const tensor of checkpoint.tensors) {
    const count = elementCount(tensor.shape);
    parameters += count;
    if (tensor.name === 'model.embed_tokens.weight') embedding = count;
  }
  const untiedEmbedding = checkpoint.config.tieWordEmbeddings ? 0 : embedding;
  return {
    parameters,
    weightBytes: parameters * bytes,
    bytesPerDecodeStep: (parameters - untiedEmbedding) * bytes,
  };
}

/** `hidden 768, 12 layers, 12/4 heads, intermediate 2048, vocab 32000, tied`. */
export function describeShape(c: ModelConfig): string {
  return (
    `hidden ${c.hiddenSize}, ${c.numLayers} layers, ${c.numHeads}/${c.numKvHeads} heads, ` +
    `intermediate ${c.intermediateSize}, vocab ${c.vocabSize}` +
    (c.tieWordEmbeddings ? ', tied embeddings' : '')
  );
}
