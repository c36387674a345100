import { CheckpointError } from './checkpoint-error.js';
import { type ModelConfig, validateModelConfig } from './model-config.js';
import { CheckpointFile, type TensorInfo, type TensorSource } from './tensor-source.js';

/** The seven int32 of a legacy (version 0) llama2.c checkpoint header. */
export interface Llama2cHeader {
  readonly dim: number;
  readonly hiddenDim: number;
  readonly numLayers: number;
  readonly numHeads: number;
  readonly numKvHeads: number;
  /** Negative when a separate classifier (wcls) follows the other tensors. */
  readonly vocabSize: number;
  readonly seqLen: number;
}

/** An opened llama2.c checkpoint, presented as a Hugging Face Llama. */
export interface Llama2cCheckpoint {
  readonly config: ModelConfig;
  readonly header: Llama2cHeader;
  readonly tensors: readonly TensorSource[];
  close(): Promise<void>;
}

const HEADER_BYTES = 28;
/** llama2.c's export.py writes this magic ("ak42") at the start of its version 1+ formats. */
const EXPORT_MAGIC = 0x616b3432;

function parseHeader(path: string, bytes: Uint8Array): Llama2cHeader {
  const view = new DataView(bytes.buffer, bytes.byteOffset, HEADER_BYTES);
  const ints = Array.from({ length: 7 }, (_, i) => view.getInt32(i * 4, true));
  if (ints[0] === EXPORT_MAGIC) {
    throw new CheckpointError(
      `${path}: llama2.c's newer export formats are not supported (only the legacy ` +
        'version 0 layout: seven int32 then float32 tensors)',
    );
  }
  const [dim, hiddenDim, numLayers, numHeads, numKvHeads, vocabSize, seqLen] = ints as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const positive = { dim, hidden_dim: hiddenDim, n_layers: numLayers, n_heads: numHeads };
  for (const [field, value] of Object.entries({
    ...positive,
    n_kv_heads: numKvHeads,
    seq_len: seqLen,
  })) {
    if (value <= 0) throw notLlama2c(path, `header field ${field} is not a positive size`);
  }
  if (vocabSize === 0) throw notLlama2c(path, 'header field vocab_size is 0');
  return { dim, hiddenDim, numLayers, numHeads, numKvHeads, vocabSize, seqLen };
}

/**
 * Any file parses as a header, so what is wrong is named without its values: an error must
 * never echo bytes of a file that is not a checkpoint.
 */
function notLlama2c(path: string, what: string): CheckpointError {
  return new CheckpointError(`${path}: not a llama2.c checkpoint: ${what}`);
}

function toConfig(header: Llama2cHeader, path: string): ModelConfig {
  const config: ModelConfig = {
    architecture: 'LlamaForCausalLM',
    hiddenSize: header.dim,
    intermediateSize: header.hiddenDim,
    numLayers: header.numLayers,
    numHeads: header.numHeads,
    numKvHeads: header.numKvHeads,
    headDim: header.dim / header.numHeads,
    vocabSize: Math.abs(header.vocabSize),
    rmsNormEps: 1e-5,
    ropeTheta: 10000,
    ropeScaling: { type: 'none' },
    maxPositionEmbeddings: header.seqLen,
    tieWordEmbeddings: header.vocabSize > 0,
    attentionBias: false,
    attentionOutputBias: false,
    qkNorm: false,
    rotaryLayout: 'adjacent',
    slidingWindow: null,
    bosTokenId: 1,
    eosTokenIds: [2],
    torchDtype: 'float32',
  };
  try {
    validateModelConfig(config, path);
  } catch {
    throw notLlama2c(path, 'its header does not describe a valid Llama model');
  }
  return config;
}

/** Where each tensor lies: the stacked arrays in file order, sliced per layer under HF names. */
export function llama2cLayout(header: Llama2cHeader): {
  tensors: (TensorInfo & { offset: number })[];
  fileBytes: number;
} {
  const { dim, hiddenDim: hidden, numLayers: layers, seqLen } = header;
  const vocab = Math.abs(header.vocabSize);
  const headSize = dim / header.numHeads;
  const kvDim = header.numKvHeads * headSize;
  const tensors: (TensorInfo & { offset: number })[] = [];
  let offset = HEADER_BYTES;
  const single = (name: string, shape: number[]) => {
    tensors.push({ name, shape, offset });
    offset += shape.reduce((a, b) => a * b, 4);
  };
  const stacked = (suffix: string, shape: number[]) => {
    for (let layer = 0; layer < layers; layer++) single(`model.layers.${layer}.${suffix}`, shape);
  };
  single('model.embed_tokens.weight', [vocab, dim]);
  stacked('input_layernorm.weight', [dim]);
  stacked('self_attn.q_proj.weight', [dim, dim]);
  stacked('self_attn.k_proj.weight', [kvDim, dim]);
  stacked('self_attn.v_proj.weight', [kvDim, dim]);
  stacked('self_attn.o_proj.weight', [dim, dim]);
  stacked('post_attention_layernorm.weight', [dim]);
  stacked('mlp.gate_proj.weight', [hidden, dim]);
  stacked('mlp.down_proj.weight', [dim, hidden]);
  stacked('mlp.up_proj.weight', [hidden, dim]);
  single('model.norm.weight', [dim]);
  offset += 2 * seqLen * (headSize / 2) * 4;
  if (header.vocabSize < 0) single('lm_head.weight', [vocab, dim]);
  return { tensors, fileBytes: offset };
}

/**
 * Opens a legacy llama2.c `.bin` checkpoint (float32). Tensors are per-layer slices of its
 * stacked arrays under Hugging Face names, read positionally; wq and wk are not permuted, the
 * config says `rotaryLayout: 'adjacent'` instead. Fails naming the file when it is truncated,
 * longer than its header implies, or its header is invalid.
 */
export async function openLlama2c(path: string): Promise<Llama2cCheckpoint> {
  const file = await CheckpointFile.open(path);
  try {
    if (file.size < HEADER_BYTES) {
      throw new CheckpointError(
        `${path}: truncated: ${file.size} bytes, shorter than the 28-byte header`,
      );
    }
    const bytes = new Uint8Array(HEADER_BYTES);
    await file.readAt(0, bytes, 'the header');
    const header = parseHeader(path, bytes);
    const config = toConfig(header, path);
    const layout = llama2cLayout(header);
    if (file.size !== layout.fileBytes) {
      const what = file.size < layout.fileBytes ? 'shorter' : 'longer';
      throw notLlama2c(
        path,
        `its ${file.size} bytes are ${what} than its header implies (cut short?)`,
      );
    }
    const tensors = layout.tensors.map((t) => file.tensor(t, 'float32', t.offset));
    return { config, header, tensors, close: () => file.close() };
  } catch (error) {
    await file.close();
    throw error;
  }
}
