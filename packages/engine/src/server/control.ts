import type { FastifyInstance } from 'fastify';
import * as z from 'zod';
import { namedTensorsFromSafetensors } from '../model/weights/named-tensors.js';
import type { RouteContext } from './context.js';
import { sendControl } from './context.js';
import { asRequestError, parseBody, RequestError } from './errors.js';
import { compact } from './sampling.js';

const pauseSchema = z
  .object({
    mode: z
      .enum(['abort', 'wait', 'keep'], { error: "must be one of 'abort', 'wait', 'keep'" })
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
  },
  { error: 'expected an object with model_path' },
);

const tensorQuerySchema = z.object({ weight_version: weightVersion }).nullish();

const abortSchema = z
  .object(
    {
      rid: z.string({ error: 'a request id (string) is required' }).min(1).optional(),
      abort_all: z.boolean({ error: 'must be true or false' }).optional(),
    },
    { error: 'expected an object with rid, or abort_all: true' },
  )
  .refine((body) => body.abort_all === true || body.rid !== undefined, {
    error: 'give a request id (rid), or abort_all: true',
  });

/**
 * The scheduler's control plane, all behind the admin key: pause / continue, weight
 * updates (from disk, or pushed as safetensors), cache flush, request abort. Failures are 400
 * `{ success: false }`.
 */
export function registerControlRoutes(app: FastifyInstance, { engine, admin }: RouteContext): void {
  app.post('/pause_generation', admin, async (request, reply) => {
    const input = parseBody(pauseSchema, request.body);
    return sendControl(reply, await engine.pauseGeneration(input));
  });

  app.post('/continue_generation', admin, async (_request, reply) => {
    return sendControl(reply, await engine.continueGeneration());
  });

  app.post('/update_weights_from_disk', admin, async (request, reply) => {
    const { model_path, weight_version } = parseBody(updateWeightsSchema, request.body);
    const update = compact({ modelPath: model_path, weightVersion: weight_version });
    return sendControl(reply, await engine.updateWeightsFromDisk(update));
  });

  // SGLang sends pickled torch tensors here, which only Python can read; this engine takes
  // the tensors as one safetensors file (`safetensors.torch.save(named_tensors)`).
  app.post('/update_weights_from_tensor', admin, async (request, reply) => {
    if (!(request.body instanceof Uint8Array)) {
      throw new RequestError(
        400,
        'send the tensors as one safetensors file with Content-Type: application/octet-stream ' +
          '(e.g. safetensors.torch.save(named_tensors)); serialized torch tensors cannot be read here',
      );
    }
    let tensors: ReturnType<typeof namedTensorsFromSafetensors>;
    try {
      tensors = namedTensorsFromSafetensors(request.body, 'the request body');
    } catch (error) {
      throw asRequestError(error);
    }
    const version = parseBody(tensorQuerySchema, request.query)?.weight_version;
    const update = compact({ tensors, weightVersion: version });
    return sendControl(reply, await engine.updateWeightsFromTensors(update));
  });

  app.get('/get_weight_version', async () => ({ weight_version: engine.weightVersion() }));

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
