import type { Readable } from 'node:stream';
import type { FastifyRequest } from 'fastify';
import { CheckpointError } from '../model/loader/checkpoint-error.js';
import { parseSafetensorsHeader, type SafetensorsEntry } from '../model/loader/safetensors.js';
import { RequestError } from './errors.js';

/** The largest safetensors header read (the format's own limit). */
const MAX_HEADER_BYTES = 100_000_000;

/**
 * Reads a pushed safetensors body, header first: the header is parsed and given to `check`
 * (the model's names and shapes) before any tensor data is read, so a wrong or garbage body is
 * refused after its first bytes. The data then goes into one buffer of exactly the size the
 * header describes (shared, so every rank reads it without a copy); a body of another length is
 * refused.
 */
export async function readTensorBody(
  request: FastifyRequest,
  payload: Readable,
  check: (entries: readonly SafetensorsEntry[]) => void,
): Promise<Uint8Array> {
  const declared = Number(request.headers['content-length'] ?? Number.NaN);
  const chunks = payload[Symbol.asyncIterator]();
  let head: Uint8Array = new Uint8Array(0);
  const fill = async (bytes: number) => {
    while (head.byteLength < bytes) {
      const next = await chunks.next();
      if (next.done) throw bad(`the body ends after ${head.byteLength} bytes, inside its header`);
      head = concat(head, next.value as Uint8Array);
    }
  };
  await fill(8);
  const headerBytes = new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true);
  if (
    headerBytes > BigInt(MAX_HEADER_BYTES) ||
    (declared >= 0 && Number(headerBytes) + 8 > declared)
  )
    throw bad('its header length does not fit: is it a safetensors file?');
  const dataStart = 8 + Number(headerBytes);
  await fill(dataStart);
  let entries: SafetensorsEntry[];
  try {
    const header = JSON.parse(new TextDecoder().decode(head.subarray(8, dataStart)));
    entries = parseSafetensorsHeader('the body', header, Number.MAX_SAFE_INTEGER).entries;
  } catch (error) {
    throw bad(error instanceof CheckpointError ? error.message : 'its header is not valid JSON');
  }
  check(entries);
  const total = dataStart + entries.reduce((end, e) => Math.max(end, e.end), 0);
  if (declared >= 0 && declared !== total)
    throw bad(`the body is ${declared} bytes; its header describes ${total}`);
  const body = new Uint8Array(new SharedArrayBuffer(total));
  let at = Math.min(head.byteLength, total);
  body.set(head.subarray(0, at));
  let extra = head.byteLength > total;
  for (let next = await chunks.next(); !next.done && !extra; next = await chunks.next()) {
    const chunk = next.value as Uint8Array;
    if (at + chunk.byteLength > total) extra = true;
    else body.set(chunk, at);
    at += chunk.byteLength;
  }
  if (extra) throw bad(`the body is longer than the ${total} bytes its header describes`);
  if (at < total) throw bad(`the body ends after ${at} bytes; its header describes ${total}`);
  return body;
}

function bad(what: string): RequestError {
  return new RequestError(
    400,
    `update_weights_from_tensor: not a safetensors body the model takes: ${what}`,
  );
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a);
  out.set(b, a.byteLength);
  return out;
}
