import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CheckpointError } from './checkpoint-error.js';
import { checkTensors, expectedLlamaTensors } from './llama-weights.js';
import { openLlama2c } from './llama2c.js';
import { type ModelConfig, parseModelConfig } from './model-config.js';
import { openSafetensorsModel } from './safetensors-model.js';
import type { TensorSource } from './tensor-source.js';

export type CheckpointFormat = 'hf-safetensors' | 'llama2c';

/**
 * An opened checkpoint: its config, and exactly the tensors the model needs (in
 * `expectedLlamaTensors` order, under Hugging Face names), each readable until `close()`.
 */
export interface OpenedCheckpoint {
  readonly format: CheckpointFormat;
  readonly config: ModelConfig;
  readonly tensors: readonly TensorSource[];
  /** Extra tensors the checkpoint holds that the model does not use. */
  readonly warnings: readonly string[];
  close(): Promise<void>;
}

interface RawCheckpoint {
  readonly format: CheckpointFormat;
  readonly config: ModelConfig;
  readonly tensors: readonly TensorSource[];
  close(): Promise<void>;
}

async function openHfDirectory(dir: string): Promise<RawCheckpoint> {
  const configPath = join(dir, 'config.json');
  let text: string;
  try {
    text = await readFile(configPath, 'utf8');
  } catch (error) {
    throw new CheckpointError(`${dir}: model directory has no config.json`, { cause: error });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new CheckpointError(`${configPath}: not valid JSON`, { cause: error });
  }
  const config = parseModelConfig(json, configPath);
  const model = await openSafetensorsModel(dir);
  return { format: 'hf-safetensors', config, tensors: model.tensors, close: () => model.close() };
}

async function openRaw(path: string): Promise<RawCheckpoint> {
  let isDirectory: boolean;
  try {
    isDirectory = (await stat(path)).isDirectory();
  } catch (error) {
    throw new CheckpointError(`${path}: checkpoint does not exist`, { cause: error });
  }
  if (isDirectory) return openHfDirectory(path);
  if (path.endsWith('.bin')) {
    const checkpoint = await openLlama2c(path);
    return { format: 'llama2c', ...checkpoint };
  }
  throw new CheckpointError(
    `${path}: not a checkpoint: expected a model directory (config.json + model.safetensors ` +
      'or model.safetensors.index.json) or a llama2.c .bin file',
  );
}

/**
 * Opens a checkpoint: a Hugging Face model directory (config.json + safetensors) or a llama2.c
 * `.bin` file. Checks every expected tensor is present with its shape; on any failure closes
 * what it opened and throws a `CheckpointError` naming the path and what is missing or wrong.
 */
export async function openCheckpoint(path: string): Promise<OpenedCheckpoint> {
  const raw = await openRaw(path);
  try {
    const expected = expectedLlamaTensors(raw.config);
    const { extra } = checkTensors(expected, raw.tensors, path);
    const byName = new Map(raw.tensors.map((tensor) => [tensor.name, tensor]));
    const tensors = expected.required.map((info) => byName.get(info.name) as TensorSource);
    const warnings = extra.map((name) => `${path}: tensor ${name} is not used by the model`);
    return { format: raw.format, config: raw.config, tensors, warnings, close: raw.close };
  } catch (error) {
    await raw.close();
    throw error;
  }
}
