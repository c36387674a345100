import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest, RouteShorthandOptions } from 'fastify';
import { sendError } from './errors.js';

/**
 * Route options for the control endpoints: with a key, each request must carry
 * `Authorization: Bearer <key>` or is answered 401. Without a key, no check.
 */
export function adminOnly(adminKey: string | undefined): RouteShorthandOptions {
  if (!adminKey) return {};
  const expected = digest(adminKey);
  return {
    onRequest: async (request: FastifyRequest, reply: FastifyReply) => {
      const match = /^Bearer\s+(.+)$/i.exec(request.headers.authorization ?? '');
      if (match?.[1] && timingSafeEqual(digest(match[1].trim()), expected)) return;
      reply.header('www-authenticate', 'Bearer');
      return sendError(request, reply, 401, 'admin key required: send Authorization: Bearer <key>');
    },
  };
}

/** Equal-length digests, so the comparison takes the same time whatever the key. */
function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}
