import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { convertInto } from './dtype-convert.js';
import { expectedLlamaTensors } from './llama-weights.js';
import type { Llama2cHeader } from './llama2c.js';
import { llama2cLayout } from './llama2c.js';
import { parseModelConfig } from './model-config.js';
import { elementCount, type TensorDtype } from './tensor-source.js';

/**
 * The real llama2.c checkpoint the tests run: ../shared/models beside the checkout (it is not
 * copied into the repo), or TS_SHARED_MODELS. Throws, saying so, when it is not there.
 */
export function stories260K(): string {
  const models =
    process.env.TS_SHARED_MODELS ?? resolve(import.meta.dirname, '../../../../../../shared/models');
  const path = resolve(models, 'stories260K/stories260K.bin');
  if (!existsSync(path)) {
    throw new Error(
      `${path} is missing: the tests read stories260K from ../shared/models beside the checkout; ` +
        'set TS_SHARED_MODELS to the folder that holds stories260K/',
    );
  }
  return path;
}

export interface TestTensor {
  readonly name: string;
  /** A safetensors dtype name; anything is written as given. */
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly data: Uint8Array;
}

const SAFETENSORS_NAMES: Record<TensorDtype, string> = {
  float32: 'F32',
  bfloat16: 'BF16',
  float16: 'F16',
};

export async function withTempDir<T>(body: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'ts-engine-loader-'));
  try {
    return await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Element i of a test tensor: small, distinct, exactly representable in bfloat16. */
export function testValue(seed: number, i: number): number {
  return ((seed * 31 + i) % 64) / 16 - 2;
}

/** A tensor whose elements are `testValue(seed, i)`, stored as `dtype`. */
export function testTensor(
  name: string,
  shape: readonly number[],
  dtype: TensorDtype,
  seed = 0,
): TestTensor {
  const f32 = Float32Array.from({ length: elementCount(shape) }, (_, i) => testValue(seed, i));
  const data = new Uint8Array(f32.length * (dtype === 'float32' ? 4 : 2));
  convertInto(data, dtype, new Uint8Array(f32.buffer), 'float32');
  return { name, dtype: SAFETENSORS_NAMES[dtype], shape, data };
}

/** The bytes of a safetensors file holding `tensors` in order, header padded to 8 bytes. */
export function encodeSafetensors(
  tensors: readonly TestTensor[],
  metadata?: Record<string, string>,
): Uint8Array {
  const header: Record<string, unknown> = metadata === undefined ? {} : { __metadata__: metadata };
  let offset = 0;
  for (const tensor of tensors) {
    header[tensor.name] = {
      dtype: tensor.dtype,
      shape: tensor.shape,
      data_offsets: [offset, offset + tensor.data.byteLength],
    };
    offset += tensor.data.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(new TextEncoder().encode(json), 8);
  let at = 8 + json.length;
  for (const tensor of tensors) {
    out.set(tensor.data, at);
    at += tensor.data.byteLength;
  }
  return out;
}

export async function writeSafetensors(
  path: string,
  tensors: readonly TestTensor[],
): Promise<void> {
  await writeFile(path, encodeSafetensors(tensors));
}

/** A small but complete Llama config.json object; `overrides` replace or add fields. */
export function tinyConfigJson(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    architectures: ['LlamaForCausalLM'],
    hidden_size: 16,
    intermediate_size: 24,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    vocab_size: 32,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    max_position_embeddings: 64,
    tie_word_embeddings: false,
    bos_token_id: 1,
    eos_token_id: 2,
    torch_dtype: 'bfloat16',
    hidden_act: 'silu',
    ...overrides,
  };
}

/** Every tensor `config` needs, seeded by position, stored as `dtype`. */
export function modelTensors(
  configJson: Record<string, unknown>,
  dtype: TensorDtype,
): TestTensor[] {
  const { required } = expectedLlamaTensors(parseModelConfig(configJson));
  return required.map((info, seed) => testTensor(info.name, info.shape, dtype, seed));
}

/** Writes config.json and the model's tensors, in one file or in `shards` files with an index. */
export async function writeHfModel(
  dir: string,
  configJson: Record<string, unknown>,
  options: { dtype?: TensorDtype; shards?: number; tensors?: TestTensor[] } = {},
): Promise<TestTensor[]> {
  const tensors = options.tensors ?? modelTensors(configJson, options.dtype ?? 'bfloat16');
  await writeFile(join(dir, 'config.json'), JSON.stringify(configJson));
  const shards = options.shards ?? 1;
  if (shards === 1) {
    await writeSafetensors(join(dir, 'model.safetensors'), tensors);
    return tensors;
  }
  const weightMap: Record<string, string> = {};
  for (let s = 0; s < shards; s++) {
    const name = `model-0000${s + 1}-of-0000${shards}.safetensors`;
    const part = tensors.filter((_, i) => i % shards === s);
    for (const tensor of part) weightMap[tensor.name] = name;
    await writeSafetensors(join(dir, name), part);
  }
  await writeFile(
    join(dir, 'model.safetensors.index.json'),
    JSON.stringify({ metadata: {}, weight_map: weightMap }),
  );
  return tensors;
}

/** The bytes of a llama2.c checkpoint whose float i (after the header) is `testValue(7, i)`. */
export function encodeLlama2c(header: Llama2cHeader): Uint8Array {
  const { fileBytes } = llama2cLayout(header);
  const out = new Uint8Array(fileBytes);
  const view = new DataView(out.buffer);
  const ints = [
    header.dim,
    header.hiddenDim,
    header.numLayers,
    header.numHeads,
    header.numKvHeads,
    header.vocabSize,
    header.seqLen,
  ];
  for (const [i, value] of ints.entries()) view.setInt32(i * 4, value, true);
  for (let i = 0; 28 + i * 4 < fileBytes; i++) view.setFloat32(28 + i * 4, testValue(7, i), true);
  return out;
}
