import { CheckpointError } from './checkpoint-error.js';
import type { ModelConfig } from './model-config.js';
import { formatShape, type TensorInfo } from './tensor-source.js';

/** The tensors a model needs, by Hugging Face name, and names that may be present but unused. */
export interface ExpectedTensors {
  readonly required: readonly TensorInfo[];
  /**
   * Names accepted and not loaded: `lm_head.weight` when the embeddings are tied (the runtime
   * uses model.embed_tokens.weight), and the rotary `inv_freq` buffers older exports saved.
   */
  readonly ignored: ReadonlySet<string>;
}

/** The result of a successful `checkTensors`: names that were neither required nor ignored. */
export interface TensorCheck {
  readonly extra: readonly string[];
}

/** The Hugging Face tensor names and shapes of a Llama-family model, embeddings first. */
export function expectedLlamaTensors(config: ModelConfig): ExpectedTensors {
  const { hiddenSize: hidden, headDim, vocabSize: vocab } = config;
  const qDim = config.numHeads * headDim;
  const kvDim = config.numKvHeads * headDim;
  const required: TensorInfo[] = [{ name: 'model.embed_tokens.weight', shape: [vocab, hidden] }];
  const ignored = new Set<string>();
  for (let layer = 0; layer < config.numLayers; layer++) {
    const p = `model.layers.${layer}.`;
    const add = (name: string, ...shape: number[]) => required.push({ name: p + name, shape });
    add('input_layernorm.weight', hidden);
    add('self_attn.q_proj.weight', qDim, hidden);
    add('self_attn.k_proj.weight', kvDim, hidden);
    add('self_attn.v_proj.weight', kvDim, hidden);
    if (config.attentionBias) {
      add('self_attn.q_proj.bias', qDim);
      add('self_attn.k_proj.bias', kvDim);
      add('self_attn.v_proj.bias', kvDim);
    }
    add('self_attn.o_proj.weight', hidden, qDim);
    if (config.attentionOutputBias) add('self_attn.o_proj.bias', hidden);
    if (config.qkNorm) {
      add('self_attn.q_norm.weight', headDim);
      add('self_attn.k_norm.weight', headDim);
    }
    add('post_attention_layernorm.weight', hidden);
    add('mlp.gate_proj.weight', config.intermediateSize, hidden);
    add('mlp.up_proj.weight', config.intermediateSize, hidden);
    add('mlp.down_proj.weight', hidden, config.intermediateSize);
    ignored.add(`${p}self_attn.rotary_emb.inv_freq`);
  }
  required.push({ name: 'model.norm.weight', shape: [hidden] });
  if (config.tieWordEmbeddings) ignored.add('lm_head.weight');
  else required.push({ name: 'lm_head.weight', shape: [vocab, hidden] });
  return { required, ignored };
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((size, i) => size === b[i]);
}

const LISTED_PROBLEMS = 5;

/**
 * Compares what a checkpoint holds with what the model needs. Throws a `CheckpointError`
 * listing missing tensors and tensors of the wrong shape (expected vs found); returns the
 * unexpected extra names, which the caller reports as warnings.
 */
export function checkTensors(
  expected: ExpectedTensors,
  available: readonly TensorInfo[],
  source = 'checkpoint',
): TensorCheck {
  const found = new Map(available.map((tensor) => [tensor.name, tensor.shape]));
  const problems: string[] = [];
  for (const { name, shape } of expected.required) {
    const actual = found.get(name);
    if (actual === undefined) problems.push(`missing tensor ${name}`);
    else if (!sameShape(actual, shape)) {
      problems.push(
        `tensor ${name} has shape ${formatShape(actual)}, expected ${formatShape(shape)}`,
      );
    }
  }
  if (problems.length > 0) {
    const more =
      problems.length > LISTED_PROBLEMS ? `; and ${problems.length - LISTED_PROBLEMS} more` : '';
    throw new CheckpointError(`${source}: ${problems.slice(0, LISTED_PROBLEMS).join('; ')}${more}`);
  }
  const requiredNames = new Set(expected.required.map((tensor) => tensor.name));
  const extra = available
    .map((tensor) => tensor.name)
    .filter((name) => !requiredNames.has(name) && !expected.ignored.has(name));
  return { extra };
}
