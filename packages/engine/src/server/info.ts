import { randomUUID } from 'node:crypto';
import type { ModelInfoReply, ModelList } from '@ts/client';
import type { FastifyInstance } from 'fastify';
import type { RouteContext } from './context.js';

const started = Math.floor(Date.now() / 1000);

/**
 * `/health`, SGLang's `/health_generate` (one token generated), `/model_info` (and SGLang's
 * older `/get_model_info`), `/v1/models`. Open.
 */
export function registerInfoRoutes(
  app: FastifyInstance,
  { engine, modelName, healthGenerateMs }: RouteContext,
): void {
  // 503 while the server closes comes from Fastify's return503OnClosing.
  app.get('/health', async () => ({}));

  // While a tag is released nothing runs, so it answers 503 at once instead of waiting for a
  // wake; a token that does not come in time (generation paused) is a 503 too.
  app.get('/health_generate', async (_request, reply) => {
    const sleep = await engine.isSleeping();
    if (sleep.isSleeping) {
      const tags = sleep.releasedTags.join(', ');
      return reply.code(503).send({ success: false, message: `sleeping: released [${tags}]` });
    }
    const rid = `health-${randomUUID()}`;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), healthGenerateMs);
    });
    const output = await Promise.race([
      engine.generate({ rid, inputIds: [0], samplingParams: { maxNewTokens: 1, ignoreEos: true } }),
      late,
    ]).finally(() => clearTimeout(timer));
    if (output?.outputIds.length === 1) return {};
    await engine.abortRequest(rid);
    const message = output
      ? `the health request ended without a token: ${output.metaInfo.finishReason?.type}`
      : `no token within ${healthGenerateMs / 1000} s (is generation paused?)`;
    return reply.code(503).send({ success: false, message });
  });

  const modelInfo = async (): Promise<ModelInfoReply> => {
    const info = engine.modelInfo();
    return {
      model_path: info.modelPath,
      tokenizer_path: info.modelPath,
      is_generation: true,
      served_model_name: modelName(),
      architecture: info.architecture,
      vocab_size: info.vocabSize,
      max_context: info.maxContext,
      dtype: info.dtype,
      device: info.device,
      dp_size: info.dpSize,
      has_chat_template: info.hasChatTemplate,
    };
  };
  app.get('/model_info', modelInfo);
  app.get('/get_model_info', modelInfo);

  app.get('/v1/models', async (): Promise<ModelList> => {
    const info = engine.modelInfo();
    return {
      object: 'list',
      data: [
        {
          id: modelName(),
          object: 'model',
          created: started,
          owned_by: 'ts-engine',
          root: info.modelPath,
          max_model_len: info.maxContext,
        },
      ],
    };
  });
}
