import type { ControlResult } from '@ts/pause';
import type { FastifyInstance } from 'fastify';
import * as z from 'zod';
import { namedTensorsFromSafetensors } from '../model/weights/named-tensors.js';
import { checkpointUnder } from './checkpoint-dir.js';
import type { RouteContext } from './context.js';
import { sendControl } from './context.js';
import { asRequestError, parseBody } from './errors.js';
import { compact } from './sampling.js';
import { serializedNamedTensors } from './serialized-tensors.js';

const PAUSE_MODES = ['abort', 'wait', 'keep', 'in_place', 'retract'] as const;

const pauseSchema = z
  .object({
    mode: z
      .enum(PAUSE_MODES, { error: `must be one of ${PAUSE_MODES.map((m) => `'${m}'`).join(', ')}` })
      .nullish(),
  })
  .nullish()
  .transform((body) => ({ mode: body?.mode ?? 'abort' }));

const weightVersion = z
  .string({ error: 'must be a non-empty string' })
  .min(1, { error: 'must be a non-empty string' })
  .optional();

const updateWeightsSchema = z.object(
  {
    model_path: z.string({ error: 'a checkpoint path (string) is required' }).min(1),
    weight_version: weightVersion,
    abort_all_requests: z.boolean({ error: 'must be true or false' }).nullish(),
    // SGLang's other fields: only what this engine does is accepted.
    load_format: z
      .enum(['auto', 'safetensors'], { error: "must be 'auto' or 'safetensors'" })
      .nullish(),
    // The prefix cache is always reset after an update (KV of the old weights is never reused).
    flush_cache: z.boolean({ error: 'must be true or false' }).nullish(),
  },
  { error: 'expected an object with model_path' },
);

const tensorQuerySchema = z.object({ weight_version: weightVersion }).nullish();

// SGLang's AbortReq: an empty rid with abort_all (verl), or a rid this server does not hold
// (ROLL sends every abort to every worker), both answer 200.
const abortSchema = z
  .object(
    {
      rid: z.string({ error: 'a request id (string) is required' }).optional(),
      abort_all: z.boolean({ error: 'must be true or false' }).optional(),
    },
    { error: 'expected an object with rid, or abort_all: true' },
  )
  .refine((body) => body.abort_all === true || body.rid !== undefined, {
    error: 'give a request id (rid), or abort_all: true',
  });

const weightVersionSchema = z.object(
  {
    new_version: z
      .string({ error: 'a version (non-empty string) is required' })
      .min(1, { error: 'a version (non-empty string) is required' }),
    abort_all_requests: z.boolean({ error: 'must be true or false' }).nullish(),
  },
  { error: 'expected an object with new_version' },
);

const weightUpdateSessionSchema = z
  .object({
    selector: z
      .union(
        [
          z.literal('all', { error: "must be 'all' or a list of names" }),
          z.array(z.string(), { error: "must be 'all' or a list of names" }),
        ],
        { error: "must be 'all' or a list of names" },
      )
      .nullish(),
  })
  .nullish();

function withStatus(result: ControlResult): ControlResult & { status?: 'ok' } {
  return result.success ? { ...result, status: 'ok' } : result;
}

/**
 * The scheduler's control plane, all behind the admin key: pause / continue, weight
 * updates (from disk, or pushed as pickled torch tensors or safetensors), cache flush, request abort. Failures are 400
 * `{ success: false }`.
 */
export function registerControlRoutes(
  app: FastifyInstance,
  { engine, admin, checkpointDir }: RouteContext,
): void {
  // SGLang's abort_all_requests on weight updates (AReaL sends it): every request in flight
  // ends first; the reply's num_paused_requests counts them.
  const abortFirst = async (abortAll: boolean | null | undefined): Promise<number> =>
    abortAll ? (await engine.abortAllRequests()).abortedRequests : 0;

  // SGLang's replies here carry `status: "ok"`, which some callers read.
  app.post('/pause_generation', admin, async (request, reply) => {
    const input = parseBody(pauseSchema, request.body);
    return sendControl(reply, withStatus(await engine.pauseGeneration(input)));
  });

  app.post('/continue_generation', admin, async (_request, reply) => {
    return sendControl(reply, withStatus(await engine.continueGeneration()));
  });

  // miles opens a session around its update calls: no forward pass starts until it closes.
  app.post('/begin_weight_update', admin, async (request, reply) => {
    parseBody(weightUpdateSessionSchema, request.body);
    return sendControl(reply, await engine.beginWeightUpdate());
  });

  app.post('/end_weight_update', admin, async (_request, reply) => {
    return sendControl(reply, await engine.endWeightUpdate());
  });

  app.post('/update_weights_from_disk', admin, async (request, reply) => {
    const body = parseBody(updateWeightsSchema, request.body);
    const modelPath = await checkpointUnder(checkpointDir, body.model_path);
    const update = compact({ modelPath, weightVersion: body.weight_version });
    const aborted = await abortFirst(body.abort_all_requests);
    const result = await engine.updateWeightsFromDisk(update);
    return sendControl(reply, { ...result, num_paused_requests: aborted });
  });

  // SGLang's JSON body (pickled torch tensors, read with an allow-list), or the tensors as one
  // safetensors file (`safetensors.torch.save(named_tensors)`, weight_version in the query).
  // duration_ms: from the body read to the update's end (reading the tensors included).
  app.post('/update_weights_from_tensor', admin, async (request, reply) => {
    const started = performance.now();
    const durationMs = () => performance.now() - started;
    if (!(request.body instanceof Uint8Array)) {
      const { parsed, tensors, done } = await serializedNamedTensors(request.body);
      try {
        const aborted = await abortFirst(parsed.abort_all_requests);
        const update = compact({ tensors, weightVersion: parsed.weight_version });
        const result = await engine.updateWeightsFromTensors(update);
        return sendControl(reply, {
          ...result,
          num_paused_requests: aborted,
          durationMs: durationMs(),
        });
      } finally {
        await done();
      }
    }
    let tensors: ReturnType<typeof namedTensorsFromSafetensors>;
    try {
      tensors = namedTensorsFromSafetensors(request.body, 'the request body');
    } catch (error) {
      throw asRequestError(error);
    }
    const version = parseBody(tensorQuerySchema, request.query)?.weight_version;
    const update = compact({ tensors, weightVersion: version });
    const result = await engine.updateWeightsFromTensors(update);
    return sendControl(reply, { ...result, durationMs: durationMs() });
  });

  app.get('/get_weight_version', async () => ({ weight_version: engine.weightVersion() }));

  // SGLang's: renames the current weights (after an update pushed by other means), aborting
  // every request first unless abort_all_requests is false.
  app.post('/update_weight_version', admin, async (request, reply) => {
    const body = parseBody(weightVersionSchema, request.body);
    const result = await engine.updateWeightVersion(
      compact({ newVersion: body.new_version, abortAllRequests: body.abort_all_requests }),
    );
    return reply
      .code(result.success ? 200 : 400)
      .send({ ...result, new_version: body.new_version });
  });

  app.route({
    method: ['GET', 'POST'],
    url: '/flush_cache',
    ...admin,
    handler: async (_request, reply) => sendControl(reply, await engine.flushCache()),
  });

  app.post('/abort_request', admin, async (request, reply) => {
    const { rid, abort_all } = parseBody(abortSchema, request.body);
    if (abort_all) return sendControl(reply, await engine.abortAllRequests());
    return sendControl(reply, await engine.abortRequest(rid as string));
  });
}
