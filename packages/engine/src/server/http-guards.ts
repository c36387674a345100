import type { Readable } from 'node:stream';
import cors from '@fastify/cors';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { declaredTooLarge, lingerOnUnreadBody } from './body-limits.js';
import { RequestError, sendError } from './errors.js';

export interface GuardOptions {
  /** Origins a browser page may call from (CORS); none by default, `*` for any. */
  corsOrigins?: readonly string[];
  /**
   * Host names (without port) a request's Host header may name, or null for any. A server
   * bound to loopback without a key accepts only loopback names, so a page whose name rebinds
   * to 127.0.0.1 cannot reach it.
   */
  allowedHosts?: readonly string[] | null;
}

/** The Host names of a loopback server. */
export const LOOPBACK_HOSTS: readonly string[] = ['localhost', '127.0.0.1', '::1'];

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;.*)?$/i;

/**
 * Bodies are read as JSON only when their Content-Type says JSON (a page may POST text/plain
 * or form bodies to any address without a preflight); anything else with a body is a 415.
 * A JSON body is read by `readJson`, which refuses one past its route's bodyLimit; one that
 * declares more is a 413 before any of it is read (`lingerOnUnreadBody` for the rest).
 * `application/octet-stream` is a pushed safetensors file, kept as bytes.
 */
export function registerBodyParsers(
  app: FastifyInstance,
  readJson: (request: FastifyRequest, payload: Readable) => Promise<unknown>,
  tensorBodyLimit: number,
  readTensors: (request: FastifyRequest, payload: Readable) => Promise<Uint8Array>,
): void {
  app.removeAllContentTypeParsers();
  app.addHook('onRequest', async (request, reply) => {
    if (!JSON_TYPE.test(request.headers['content-type'] ?? '')) return;
    const route = `${request.method} ${request.routeOptions.url ?? request.url}`;
    const limit = request.routeOptions.bodyLimit ?? app.initialConfig.bodyLimit ?? 0;
    const refusal = declaredTooLarge(request.headers['content-length'], limit, route);
    if (refusal === null) return;
    lingerOnUnreadBody(request.raw);
    return sendError(request, reply, 413, refusal);
  });
  app.addContentTypeParser(JSON_TYPE, (request: FastifyRequest, payload: Readable) =>
    readJson(request, payload),
  );
  app.addContentTypeParser(
    'application/octet-stream',
    { bodyLimit: tensorBodyLimit },
    async (request: FastifyRequest, payload: Readable) => readTensors(request, payload),
  );
  app.addContentTypeParser('*', (request, _payload, done) => {
    const type = request.headers['content-type'] ?? '(none)';
    done(
      new RequestError(
        415,
        `Content-Type ${type} is not read: send JSON with Content-Type: application/json`,
      ),
      undefined,
    );
  });
}

/** CORS (preflights answered, origins allowed only when named) and the Host check. */
export function registerGuards(app: FastifyInstance, options: GuardOptions): void {
  const origins = options.corsOrigins ?? [];
  void app.register(cors, {
    origin: origins.includes('*') ? '*' : [...origins],
    methods: ['GET', 'POST'],
    allowedHeaders: ['Content-Type', 'Authorization'],
    strictPreflight: false,
  });
  const hosts = options.allowedHosts;
  if (!hosts) return;
  app.addHook('onRequest', async (request, reply) => {
    const name = hostName(request.headers.host);
    if (name !== null && hosts.includes(name)) return;
    return sendError(
      request,
      reply,
      403,
      `Host ${request.headers.host ?? '(none)'} is not this server's: it answers ${hosts.join(', ')}`,
    );
  });
}

/** `example.com:30000` → `example.com`, `[::1]:8080` → `::1`; lower case. */
export function hostName(host: string | undefined): string | null {
  if (!host) return null;
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(host);
  if (bracketed?.[1]) return bracketed[1].toLowerCase();
  const plain = /^([^:]+)(?::\d+)?$/.exec(host);
  return plain?.[1] ? plain[1].toLowerCase() : null;
}
