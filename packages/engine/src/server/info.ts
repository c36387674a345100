import { randomUUID } from 'node:crypto';
import type { ModelInfoReply, ModelList, ServerInfoReply } from '@ts/client';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { serverInfoSwitches } from '../protocol/switches.js';
import type { RouteContext } from './context.js';
import { engineVersion } from './version.js';

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
  const healthGenerate = async (_request: unknown, reply: FastifyReply) => {
    const sleep = await engine.isSleeping();
    if (sleep.isSleeping) {
      const tags = sleep.releasedTags.join(', ');
      return reply.code(503).send({ success: false, message: `sleeping: released [${tags}]` });
    }
    const rid = `health-${randomUUID()}`;
    const cancel = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), healthGenerateMs);
    });
    const output = await Promise.race([
      engine.generate(
        { rid, inputIds: [0], samplingParams: { maxNewTokens: 1, ignoreEos: true } },
        { signal: cancel.signal },
      ),
      late,
    ]).finally(() => clearTimeout(timer));
    if (output?.outputIds.length === 1) return {};
    cancel.abort();
    const message = output
      ? `the health request ended without a token: ${output.metaInfo.finishReason?.type}`
      : `no token within ${healthGenerateMs / 1000} s (is generation paused?)`;
    return reply.code(503).send({ success: false, message });
  };
  app.get('/health_generate', healthGenerate);
  // The route ROLL adds to the SGLang it launches, and polls until a worker is healthy.
  app.get('/health_generate_original', healthGenerate);

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
      weight_version: engine.weightVersion(),
      architectures: [info.architecture],
      model_type: modelType(info.architecture),
      has_image_understanding: false,
      has_audio_understanding: false,
      preferred_sampling_params: null,
    };
  };
  app.get('/model_info', modelInfo);
  app.get('/get_model_info', modelInfo);

  const serverInfo = async (): Promise<ServerInfoReply> => {
    const info = engine.modelInfo();
    const bound = app.server.address();
    const sleep = await engine.isSleeping();
    const s = info.serving;
    return {
      model_path: info.modelPath,
      served_model_name: modelName(),
      dp_size: info.dpSize,
      tp_size: info.tpSize,
      page_size: s.pageSize,
      max_running_requests: s.maxRunning,
      chunked_prefill_size: s.maxBatchTokens,
      context_length: info.maxContext,
      kv_memory_fraction: s.kvMemoryFraction,
      max_total_num_tokens: s.maxTotalTokens,
      ...serverInfoSwitches(s.switches),
      device: info.device,
      dtype: info.dtype,
      weight_version: engine.weightVersion(),
      version: engineVersion(),
      pp_size: 1,
      ep_size: 1,
      nnodes: 1,
      node_rank: 0,
      host: typeof bound === 'object' && bound ? bound.address : '',
      port: typeof bound === 'object' && bound ? bound.port : 0,
      base_gpu_id: Number(/cuda:(\d+)/.exec(info.device)?.[1] ?? 0),
      gpu_id_step: 1,
      enable_memory_saver: true,
      disaggregation_mode: 'null',
      load_balance_method: 'round_robin',
      max_total_tokens: null,
      tokenizer_path: info.modelPath,
      random_seed: null,
      is_embedding: false,
      internal_states: [{ weight_version: engine.weightVersion(), is_sleeping: sleep.isSleeping }],
    };
  };
  app.get('/get_server_info', serverInfo);
  app.get('/server_info', serverInfo);

  app.get('/v1/models', async (): Promise<ModelList> => {
    const info = engine.modelInfo();
    return {
      object: 'list',
      data: [
        {
          id: modelName(),
          object: 'model',
          created: started,
          // Routers tell SGLang from vLLM by this (sgl-model-gateway); this server speaks SGLang's API.
          owned_by: 'sglang',
          root: info.modelPath,
          max_model_len: info.maxContext,
        },
      ],
    };
  });
}

/** SGLang's `model_type` (config.json's) from the architecture: `LlamaForCausalLM` → `llama`. */
function modelType(architecture: string): string {
  return architecture.replace(/ForCausalLM$/, '').toLowerCase();
}
