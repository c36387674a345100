import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CheckpointError } from './checkpoint-error.js';
import { openSafetensorsFile, type SafetensorsFile } from './safetensors.js';
import { closeAll, type TensorSource } from './tensor-source.js';

export const SINGLE_FILE = 'model.safetensors';
export const INDEX_FILE = 'model.safetensors.index.json';

/** Every tensor of a model directory's safetensors files, one handle per file until `close()`. */
export interface SafetensorsModel {
  readonly files: readonly string[];
  readonly tensors: readonly TensorSource[];
  close(): Promise<void>;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Reads `model.safetensors.index.json`: its weight_map, tensor name → shard file name. */
export async function readWeightMap(indexPath: string): Promise<Map<string, string>> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(indexPath, 'utf8'));
  } catch (error) {
    throw new CheckpointError(`${indexPath}: not a readable JSON file`, { cause: error });
  }
  const weightMap =
    typeof parsed === 'object' && parsed !== null && 'weight_map' in parsed
      ? parsed.weight_map
      : undefined;
  if (typeof weightMap !== 'object' || weightMap === null || Array.isArray(weightMap)) {
    throw new CheckpointError(`${indexPath}: has no weight_map object`);
  }
  const map = new Map<string, string>();
  for (const [name, file] of Object.entries(weightMap)) {
    if (typeof file !== 'string' || file.includes('/') || file.includes('\\')) {
      throw new CheckpointError(`${indexPath}: weight_map entry ${name} is not a file name`);
    }
    map.set(name, file);
  }
  return map;
}

function collect(
  dir: string,
  opened: readonly SafetensorsFile[],
  weightMap: ReadonlyMap<string, string> | null,
): TensorSource[] {
  const tensors = new Map<string, TensorSource>();
  for (const file of opened) {
    for (const tensor of file.tensors) {
      if (tensors.has(tensor.name)) {
        throw new CheckpointError(`${dir}: tensor ${tensor.name} appears in more than one shard`);
      }
      tensors.set(tensor.name, tensor);
    }
  }
  for (const [name, shard] of weightMap ?? []) {
    if (!tensors.has(name)) {
      throw new CheckpointError(
        `${join(dir, shard)}: has no tensor ${name} (listed in ${INDEX_FILE})`,
      );
    }
  }
  return [...tensors.values()];
}

/**
 * Opens the safetensors weights of a Hugging Face model directory: `model.safetensors.index.json`
 * with its shards when present, otherwise `model.safetensors`. Fails naming the directory when
 * neither exists, or naming the shard that is missing or malformed; closes what it opened then.
 */
export async function openSafetensorsModel(dir: string): Promise<SafetensorsModel> {
  const indexPath = join(dir, INDEX_FILE);
  let weightMap: Map<string, string> | null = null;
  let names: string[];
  if (await exists(indexPath)) {
    weightMap = await readWeightMap(indexPath);
    names = [...new Set(weightMap.values())].sort();
  } else if (await exists(join(dir, SINGLE_FILE))) {
    names = [SINGLE_FILE];
  } else {
    throw new CheckpointError(`${dir}: has neither ${SINGLE_FILE} nor ${INDEX_FILE}`);
  }
  const opened: SafetensorsFile[] = [];
  try {
    for (const name of names) {
      const path = join(dir, name);
      if (!(await exists(path))) {
        throw new CheckpointError(`${dir}: shard ${name} (listed in ${INDEX_FILE}) is missing`);
      }
      opened.push(await openSafetensorsFile(path));
    }
    const tensors = collect(dir, opened, weightMap);
    const files = names.map((name) => join(dir, name));
    return { files, tensors, close: () => closeAll(opened) };
  } catch (error) {
    await closeAll(opened).catch(() => undefined);
    throw error;
  }
}
