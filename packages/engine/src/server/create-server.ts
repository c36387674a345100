import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { EngineApi } from '../engine-api.js';
import { adminOnly } from './auth.js';
import { promptRouteRules, registerBodyLimits } from './body-limits.js';
import type { RouteContext } from './context.js';
import { registerControlRoutes } from './control.js';
import { asRequestError, errorHandler, sendError } from './errors.js';
import { registerGenerateRoutes } from './generate.js';
import { type GuardOptions, registerBodyParsers, registerGuards } from './http-guards.js';
import { registerInfoRoutes } from './info.js';
import { JsonBodies } from './json-body.js';
import { registerLoadsRoute } from './loads.js';
import { registerMemoryRoutes } from './memory.js';
import { registerMetricsRoute } from './metrics.js';
import { registerChatRoute } from './openai-chat.js';
import { registerCompletionsRoute } from './openai-completions.js';
import { readTensorBody } from './tensor-body.js';
import { registerTokenizeRoutes } from './tokenize.js';

export interface ServerOptions extends GuardOptions {
  /** When set, the control endpoints need `Authorization: Bearer <adminKey>` (else 401). */
  adminKey?: string;
  /** The model name of the OpenAI routes; default: the model path. */
  modelName?: string;
  /**
   * Largest JSON body in bytes; default 64 MiB (batches of token ids are large). The routes
   * that take prompts take at most what a valid request for the model can need (body-limits.ts).
   */
  bodyLimit?: number;
  /** Largest safetensors body of `/update_weights_from_tensor`; default 16 GiB. */
  tensorBodyLimit?: number;
  /** How long `/health_generate` waits for its one token; default 10 s. */
  healthGenerateMs?: number;
  /** `update_weights_from_disk` reads checkpoints only under this directory; default anywhere. */
  checkpointDir?: string;
  /** Fastify's logger option; default off. */
  logger?: FastifyServerOptions['logger'];
}

/**
 * The engine's HTTP API (SGLang- and OpenAI-compatible) over an `EngineApi`. Not listening:
 * the caller picks the address (`await app.listen({ host: '127.0.0.1', port })`) and closes
 * it; the engine's lifetime stays the caller's.
 */
export function createServer(engine: EngineApi, options: ServerOptions = {}): FastifyInstance {
  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: options.bodyLimit ?? 64 * 1024 * 1024,
  });

  const rules = promptRouteRules(engine.modelInfo(), app.initialConfig.bodyLimit ?? 0);
  registerBodyLimits(app, rules);
  const jsonBodies = new JsonBodies(rules);
  app.addHook('onClose', () => jsonBodies.close());
  registerBodyParsers(
    app,
    (request, payload) => jsonBodies.read(request, payload),
    options.tensorBodyLimit ?? 16 * 1024 ** 3,
    (request, payload) =>
      readTensorBody(request, payload, (entries) => {
        try {
          engine.checkTensorHeaders(entries);
        } catch (error) {
          throw asRequestError(error);
        }
      }),
  );
  registerGuards(app, options);
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((request, reply) =>
    sendError(request, reply, 404, `no route ${request.method} ${request.url}`),
  );

  const ctx: RouteContext = {
    engine,
    modelName: () => options.modelName ?? engine.modelInfo().modelPath,
    admin: adminOnly(options.adminKey),
    healthGenerateMs: options.healthGenerateMs ?? 10_000,
    checkpointDir: options.checkpointDir,
  };
  registerGenerateRoutes(app, ctx);
  registerMemoryRoutes(app, ctx);
  registerControlRoutes(app, ctx);
  registerCompletionsRoute(app, ctx);
  registerChatRoute(app, ctx);
  registerMetricsRoute(app, ctx);
  registerLoadsRoute(app, ctx);
  registerInfoRoutes(app, ctx);
  registerTokenizeRoutes(app, ctx);
  return app;
}
