import { ConfigFields, isRecord } from './config-fields.js';
import { parseRopeScaling, parseRopeTheta, type RopeScaling } from './rope.js';
import type { TensorDtype } from './tensor-source.js';

export const SUPPORTED_ARCHITECTURES = [
  'LlamaForCausalLM',
  'MistralForCausalLM',
  'Qwen2ForCausalLM',
  'Qwen3ForCausalLM',
] as const;

export type Architecture = (typeof SUPPORTED_ARCHITECTURES)[number];

/**
 * How rotary embedding pairs a head's dimensions: 'half-split' rotates (x[i], x[i + d/2])
 * (Hugging Face checkpoints), 'adjacent' rotates (x[2i], x[2i + 1]) (llama2.c checkpoints).
 */
export type RotaryLayout = 'half-split' | 'adjacent';

/** One validated, normalised config for the Llama family of decoder-only models. */
export interface ModelConfig {
  readonly architecture: Architecture;
  readonly hiddenSize: number;
  readonly intermediateSize: number;
  readonly numLayers: number;
  readonly numHeads: number;
  readonly numKvHeads: number;
  readonly headDim: number;
  readonly vocabSize: number;
  readonly rmsNormEps: number;
  readonly ropeTheta: number;
  readonly ropeScaling: RopeScaling;
  readonly maxPositionEmbeddings: number;
  /** lm_head shares model.embed_tokens.weight. */
  readonly tieWordEmbeddings: boolean;
  /** q_proj, k_proj and v_proj carry a bias. */
  readonly attentionBias: boolean;
  /** o_proj carries a bias (Llama with attention_bias; never Qwen2). */
  readonly attentionOutputBias: boolean;
  /** Per-head RMSNorm of q and k before rotary embedding (Qwen3). */
  readonly qkNorm: boolean;
  readonly rotaryLayout: RotaryLayout;
  /** Mistral's sliding attention window, or null for full attention. */
  readonly slidingWindow: number | null;
  readonly bosTokenId: number | null;
  readonly eosTokenIds: readonly number[];
  readonly torchDtype: TensorDtype | null;
}

const DTYPES: readonly string[] = ['float32', 'bfloat16', 'float16'];

function readArchitecture(fields: ConfigFields): Architecture {
  const list = fields.raw.architectures;
  if (!Array.isArray(list) || list.length === 0)
    fields.fail('missing required field "architectures"');
  const name = list[0];
  const supported = (SUPPORTED_ARCHITECTURES as readonly unknown[]).includes(name);
  if (!supported) {
    fields.fail(
      `unsupported architecture ${JSON.stringify(name)} ` +
        `(supported: ${SUPPORTED_ARCHITECTURES.join(', ')})`,
    );
  }
  return name as Architecture;
}

function readDtype(fields: ConfigFields): TensorDtype | null {
  const key = fields.has('torch_dtype') ? 'torch_dtype' : 'dtype';
  const dtype = fields.stringOr(key, null);
  if (dtype !== null && !DTYPES.includes(dtype)) {
    fields.fail(`field "${key}" is ${dtype}; supported: ${DTYPES.join(', ')}`);
  }
  return dtype as TensorDtype | null;
}

function readSlidingWindow(fields: ConfigFields, architecture: Architecture): number | null {
  if (architecture === 'MistralForCausalLM') {
    return fields.has('sliding_window') ? fields.positiveInt('sliding_window') : null;
  }
  if (fields.booleanOr('use_sliding_window', false)) {
    fields.fail(
      'use_sliding_window is true; sliding-window attention is supported for Mistral only',
    );
  }
  return null;
}

/**
 * Parses a Hugging Face `config.json` object into a `ModelConfig`. Throws a `CheckpointError`
 * naming `source` and the field that is missing or invalid, or the unsupported architecture.
 */
export function parseModelConfig(json: unknown, source = 'config.json'): ModelConfig {
  if (!isRecord(json)) throw new ConfigFields({}, source).fail('is not a JSON object');
  const fields = new ConfigFields(json, source);
  const architecture = readArchitecture(fields);
  const hiddenAct = fields.stringOr('hidden_act', 'silu');
  if (hiddenAct !== 'silu') fields.fail(`hidden_act "${hiddenAct}" is not supported (only silu)`);
  const hiddenSize = fields.positiveInt('hidden_size');
  const numHeads = fields.positiveInt('num_attention_heads');
  const isQwen2 = architecture === 'Qwen2ForCausalLM';
  const attentionBias = isQwen2 || fields.booleanOr('attention_bias', false);
  const config: ModelConfig = {
    architecture,
    hiddenSize,
    intermediateSize: fields.positiveInt('intermediate_size'),
    numLayers: fields.positiveInt('num_hidden_layers'),
    numHeads,
    numKvHeads: fields.positiveIntOr('num_key_value_heads', numHeads),
    headDim: fields.has('head_dim') ? fields.positiveInt('head_dim') : hiddenSize / numHeads,
    vocabSize: fields.positiveInt('vocab_size'),
    rmsNormEps: fields.positiveNumber('rms_norm_eps'),
    ropeTheta: parseRopeTheta(fields),
    ropeScaling: parseRopeScaling(fields),
    maxPositionEmbeddings: fields.positiveInt('max_position_embeddings'),
    tieWordEmbeddings: fields.booleanOr('tie_word_embeddings', false),
    attentionBias,
    attentionOutputBias: attentionBias && !isQwen2,
    qkNorm: architecture === 'Qwen3ForCausalLM',
    rotaryLayout: 'half-split',
    slidingWindow: readSlidingWindow(fields, architecture),
    bosTokenId: fields.tokenIds('bos_token_id')[0] ?? null,
    eosTokenIds: fields.tokenIds('eos_token_id'),
    torchDtype: readDtype(fields),
  };
  validateModelConfig(config, source);
  return config;
}

/** Checks the invariants the runtime relies on; throws a `CheckpointError` naming `source`. */
export function validateModelConfig(config: ModelConfig, source: string): void {
  const fields = new ConfigFields({}, source);
  const { hiddenSize, numHeads, numKvHeads, headDim, vocabSize } = config;
  if (!Number.isInteger(headDim)) {
    fields.fail(`hidden_size ${hiddenSize} is not a multiple of num_attention_heads ${numHeads}`);
  }
  if (headDim % 2 !== 0) fields.fail(`head dimension ${headDim} must be even for rotary embedding`);
  if (numHeads % numKvHeads !== 0) {
    fields.fail(
      `num_attention_heads ${numHeads} is not a multiple of num_key_value_heads ${numKvHeads}`,
    );
  }
  const ids =
    config.bosTokenId === null ? config.eosTokenIds : [config.bosTokenId, ...config.eosTokenIds];
  const outside = ids.find((id) => id >= vocabSize);
  if (outside !== undefined)
    fields.fail(`special token id ${outside} is outside the vocabulary (${vocabSize})`);
}
