import type { ModelInfoReply, ModelList } from '@ts/client';
import type { FastifyInstance } from 'fastify';
import type { RouteContext } from './context.js';

const started = Math.floor(Date.now() / 1000);

/** `/health`, `/model_info` (and SGLang's older `/get_model_info`), `/v1/models`. Open. */
export function registerInfoRoutes(
  app: FastifyInstance,
  { engine, modelName }: RouteContext,
): void {
  // 503 while the server closes comes from Fastify's return503OnClosing.
  app.get('/health', async () => ({}));

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
