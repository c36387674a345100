import type {
  ControlReply,
  FlushCacheReply,
  IsSleepingReply,
  ReleaseMemoryReply,
  ResumeMemoryReply,
} from '@ts/client';
import type { ReleaseReply, ResumeReply, SleepStatus } from '@ts/memory-occupation';
import type { FastifyInstance } from 'fastify';
import * as z from 'zod';
import type { FlushReply } from '../engine-api.js';
import type { RouteContext, SnakeKeys } from './context.js';
import { sendControl, snakeKeys } from './context.js';
import { parseBody } from './errors.js';

/** True only when `A` and `B` are the same type. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

/**
 * The client's reply types of the memory routes (and `/flush_cache`) are the engine's, snake-cased and nothing else (their fields are
 * optional there only for a call the engine never saw): a field added to one and not the
 * other fails to compile here.
 */
export const wireMatchesEngine: [
  Same<SnakeKeys<ReleaseReply>, Required<ReleaseMemoryReply>>,
  Same<SnakeKeys<ResumeReply>, Required<ResumeMemoryReply>>,
  Same<SnakeKeys<SleepStatus>, Required<IsSleepingReply> & ControlReply>,
  Same<SnakeKeys<FlushReply>, Required<FlushCacheReply>>,
] = [true, true, true, true];

/** `{ tags?: string[] }`; an empty body, no body or `tags: null` mean tags omitted. */
const tagsSchema = z
  .object({ tags: z.array(z.string()).nullish() })
  .nullish()
  .transform((body) => (body?.tags == null ? {} : { tags: body.tags }));

/**
 * Sleep / wake: `/release_memory_occupation`, `/resume_memory_occupation` (admin) and
 * `GET /is_sleeping` (open: it reads state only). Tag checks (unknown, empty list, double
 * release) are the engine's, whose message is passed on.
 */
export function registerMemoryRoutes(app: FastifyInstance, { engine, admin }: RouteContext): void {
  app.post('/release_memory_occupation', admin, async (request, reply) => {
    const input = parseBody(tagsSchema, request.body);
    return sendControl(reply, await engine.releaseMemoryOccupation(input));
  });

  app.post('/resume_memory_occupation', admin, async (request, reply) => {
    const input = parseBody(tagsSchema, request.body);
    return sendControl(reply, await engine.resumeMemoryOccupation(input));
  });

  app.get('/is_sleeping', async (_request, reply) => {
    const status = await engine.isSleeping();
    return reply.code(status.success ? 200 : 400).send(snakeKeys(status));
  });
}
