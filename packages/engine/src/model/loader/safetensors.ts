import { CheckpointError } from './checkpoint-error.js';
import {
  CheckpointFile,
  DTYPE_BYTES,
  elementCount,
  formatShape,
  type TensorDtype,
  type TensorSource,
} from './tensor-source.js';

/** safetensors dtype names this engine reads, and what they map to. */
const SAFETENSORS_DTYPES: Readonly<Record<string, TensorDtype>> = {
  F32: 'float32',
  BF16: 'bfloat16',
  F16: 'float16',
};

/** The safetensors format caps its JSON header at 100 MB. */
const MAX_HEADER_BYTES = 100_000_000;

/** A validated header entry: where the tensor's bytes lie within the data region. */
export interface SafetensorsEntry {
  readonly name: string;
  readonly dtype: TensorDtype;
  readonly shape: readonly number[];
  readonly begin: number;
  readonly end: number;
}

/** One opened `.safetensors` file. `close()` releases its handle; reads fail after it. */
export interface SafetensorsFile {
  readonly path: string;
  readonly metadata: Readonly<Record<string, string>>;
  readonly tensors: readonly TensorSource[];
  close(): Promise<void>;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function parseEntry(path: string, name: string, raw: unknown, dataBytes: number): SafetensorsEntry {
  const fail = (what: string): never => {
    throw new CheckpointError(`${path}: tensor ${name} ${what}`);
  };
  if (!isRecord(raw)) return fail('has no header entry object');
  const { dtype: rawDtype, shape, data_offsets: offsets } = raw;
  if (typeof rawDtype !== 'string') return fail('has no dtype');
  const dtype = SAFETENSORS_DTYPES[rawDtype];
  if (dtype === undefined) {
    const supported = Object.keys(SAFETENSORS_DTYPES).join(', ');
    return fail(`has unsupported dtype ${rawDtype} (supported: ${supported})`);
  }
  if (!Array.isArray(shape) || !shape.every(isCount)) return fail('has an invalid shape');
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
    return fail('has invalid data_offsets');
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end || end > dataBytes) {
    return fail(
      `has data_offsets [${begin}, ${end}] outside the data region of ${dataBytes} bytes ` +
        '(is the file truncated?)',
    );
  }
  const expected = elementCount(shape) * DTYPE_BYTES[dtype];
  if (end - begin !== expected) {
    return fail(
      `spans ${end - begin} bytes but ${rawDtype} ${formatShape(shape)} needs ${expected}`,
    );
  }
  return { name, dtype, shape, begin, end };
}

/**
 * Validates a parsed safetensors header against the size of the data region that follows it.
 * Throws a `CheckpointError` naming the file and the offending tensor.
 */
export function parseSafetensorsHeader(
  path: string,
  header: unknown,
  dataBytes: number,
): { entries: SafetensorsEntry[]; metadata: Record<string, string> } {
  if (!isRecord(header)) throw new CheckpointError(`${path}: header is not a JSON object`);
  const entries: SafetensorsEntry[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (!isRecord(raw) || !Object.values(raw).every((v) => typeof v === 'string')) {
        throw new CheckpointError(`${path}: __metadata__ must map strings to strings`);
      }
      metadata = raw as Record<string, string>;
      continue;
    }
    entries.push(parseEntry(path, name, raw, dataBytes));
  }
  return { entries, metadata };
}

/**
 * Reads safetensors bytes held in memory (a request body, say): the validated entries and
 * where the data region starts. `what` names the bytes in errors.
 */
export function parseSafetensorsBytes(
  bytes: Uint8Array,
  what: string,
): { entries: SafetensorsEntry[]; dataStart: number } {
  if (bytes.byteLength < 8)
    throw new CheckpointError(
      `${what}: too short for a safetensors header (${bytes.byteLength} bytes)`,
    );
  const length = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (length > BigInt(Math.min(MAX_HEADER_BYTES, bytes.byteLength - 8))) {
    throw new CheckpointError(
      `${what}: its header length does not fit in its ${bytes.byteLength} bytes (is it safetensors?)`,
    );
  }
  const dataStart = 8 + Number(length);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, dataStart)));
  } catch (error) {
    throw new CheckpointError(`${what}: header is not valid JSON`, { cause: error });
  }
  const { entries } = parseSafetensorsHeader(what, header, bytes.byteLength - dataStart);
  return { entries, dataStart };
}

async function readHeader(file: CheckpointFile): Promise<{ header: unknown; dataStart: number }> {
  if (file.size < 8) {
    throw new CheckpointError(
      `${file.path}: too short for a safetensors header (${file.size} bytes)`,
    );
  }
  const lengthBytes = new Uint8Array(8);
  await file.readAt(0, lengthBytes, 'the header length');
  const length = new DataView(lengthBytes.buffer).getBigUint64(0, true);
  if (length > BigInt(Math.min(MAX_HEADER_BYTES, file.size - 8))) {
    throw new CheckpointError(
      `${file.path}: its header length does not fit in the file (${file.size} bytes): is it safetensors?`,
    );
  }
  const json = new Uint8Array(Number(length));
  await file.readAt(8, json, 'the header');
  try {
    return { header: JSON.parse(new TextDecoder().decode(json)), dataStart: 8 + json.byteLength };
  } catch (error) {
    throw new CheckpointError(`${file.path}: header is not valid JSON`, { cause: error });
  }
}

/**
 * Opens one `.safetensors` file: reads and validates its header only (never the whole file)
 * and returns a `TensorSource` per tensor, in data-offset order. Requires nothing; holds a file
 * handle until `close()`.
 */
export async function openSafetensorsFile(path: string): Promise<SafetensorsFile> {
  const file = await CheckpointFile.open(path);
  try {
    const { header, dataStart } = await readHeader(file);
    const { entries, metadata } = parseSafetensorsHeader(path, header, file.size - dataStart);
    entries.sort((a, b) => a.begin - b.begin);
    return {
      path,
      metadata,
      tensors: entries.map((entry) => file.tensor(entry, entry.dtype, dataStart + entry.begin)),
      close: () => file.close(),
    };
  } catch (error) {
    await file.close();
    throw error;
  }
}
