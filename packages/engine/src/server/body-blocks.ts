import type { Readable } from 'node:stream';
import { RequestError } from './errors.js';

/** The most bytes of one block of a body read by `readBodyBlocks`. */
export const BLOCK_BYTES = 1024 * 1024;

/**
 * A request body read off `payload` into blocks of at most BLOCK_BYTES, each over an
 * ArrayBuffer of its own (so it can move to another thread without a copy). Chunks are copied
 * in as they arrive, so no single copy of a whole large body holds the event loop. More than
 * `limit` bytes is a 413 as soon as they pass it (Fastify then closes the connection); a body
 * cut short is a 400. `declared` (the Content-Length) only sizes the blocks.
 */
export async function readBodyBlocks(
  payload: Readable,
  limit: number,
  declared: number | undefined,
  route: string,
): Promise<Uint8Array[]> {
  const blocks: Uint8Array[] = [];
  let block: Uint8Array = new Uint8Array(0);
  let filled = 0;
  let total = 0;
  try {
    for await (const chunk of payload as AsyncIterable<Uint8Array>) {
      if (total + chunk.byteLength > limit)
        throw new RequestError(413, `body: more than the ${limit} bytes ${route} takes`);
      for (let at = 0; at < chunk.byteLength; ) {
        if (filled === block.byteLength) {
          if (filled > 0) blocks.push(block);
          const left = declared !== undefined && declared > total ? declared - total : BLOCK_BYTES;
          block = Buffer.allocUnsafeSlow(Math.min(BLOCK_BYTES, left));
          filled = 0;
        }
        const n = Math.min(block.byteLength - filled, chunk.byteLength - at);
        block.set(chunk.subarray(at, at + n), filled);
        filled += n;
        at += n;
        total += n;
      }
    }
  } catch (error) {
    if (error instanceof RequestError) throw error;
    throw new RequestError(400, `body: the request ended before its body: ${String(error)}`);
  }
  if (filled > 0) blocks.push(block.subarray(0, filled));
  return blocks;
}
