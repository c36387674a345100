import type { FastifyReply } from 'fastify';
import { onClientGone } from './sse.js';

/**
 * The requests one HTTP call submits, under one signal: aborted together when the client goes
 * away or the call fails. Only they: a rid another client holds is never touched.
 */
export function callScope(reply: FastifyReply): {
  options: { signal: AbortSignal };
  abort(): void;
} {
  const controller = new AbortController();
  const abort = () => controller.abort();
  onClientGone(reply, abort);
  return { options: { signal: controller.signal }, abort };
}
