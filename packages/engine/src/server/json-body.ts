import type { Readable } from 'node:stream';
import type { FastifyRequest } from 'fastify';
import { readBodyBlocks } from './body-blocks.js';
import type { BodyRule } from './body-limits.js';
import { RequestError } from './errors.js';
import { parseJson } from './json-parse.js';
import { JsonParsePool } from './json-parse-pool.js';

/**
 * Bodies up to this many bytes are parsed on the main thread (a few ms at most); larger ones in
 * a parse thread, whose round trip costs more than parsing a small body here.
 */
export const INLINE_PARSE_BYTES = 1024 * 1024;

/**
 * Reads JSON bodies without holding the event loop: each is read in blocks up to its route's
 * bodyLimit, parsed here when small, else in a parse thread. A body holding a prompt text that
 * cannot fit the context (its route's rule in `rules`) is refused 413 where it was parsed, so
 * such a text never comes back to this thread.
 */
export class JsonBodies {
  private readonly pool = new JsonParsePool();

  constructor(private readonly rules: ReadonlyMap<string, BodyRule>) {}

  /** The value of `request`'s JSON body (undefined when empty); a RequestError when refused. */
  async read(request: FastifyRequest, payload: Readable): Promise<unknown> {
    const route = request.routeOptions.url ?? request.url;
    const declared = request.headers['content-length'];
    const blocks = await readBodyBlocks(
      payload,
      request.routeOptions.bodyLimit,
      declared === undefined ? undefined : Number(declared),
      `${request.method} ${route}`,
    );
    const prompt = this.rules.get(route)?.prompt ?? null;
    const bytes = blocks.reduce((sum, block) => sum + block.byteLength, 0);
    const outcome =
      bytes <= INLINE_PARSE_BYTES
        ? parseJson(blocks, prompt)
        : await this.pool.parse(blocks, prompt);
    if ('value' in outcome) return outcome.value;
    throw new RequestError(outcome.status, outcome.message);
  }

  /** Stops the parse threads. */
  close(): Promise<void> {
    return this.pool.close();
  }
}
