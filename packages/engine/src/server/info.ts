import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ModelInfoReply, ModelList, ServerInfoReply } from '@ts/client';
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
      weight_version: engine.weightVersion(),
    };
  };
  app.get('/model_info', modelInfo);
  app.get('/get_model_info', modelInfo);

  const serverInfo = async (): Promise<ServerInfoReply> => {
    const info = engine.modelInfo();
    const s = info.serving;
    return {
      model_path: info.modelPath,
      served_model_name: modelName(),
      dp_size: info.dpSize,
      tp_size: 1,
      page_size: s.pageSize,
      max_running_requests: s.maxRunning,
      chunked_prefill_size: s.maxBatchTokens,
      context_length: info.maxContext,
      kv_memory_fraction: s.kvMemoryFraction,
      max_total_num_tokens: s.maxTotalTokens,
      disable_radix_cache: !s.prefixCache,
      disable_cuda_graph: !s.cudaGraphs,
      device: info.device,
      dtype: info.dtype,
      weight_version: engine.weightVersion(),
      version: engineVersion(),
    };
  };
  app.get('/get_server_info', serverInfo);
  app.get('/server_info', serverInfo);
  // SGLang's: the server's version.
  app.get('/version', async () => ({ version: engineVersion() }));

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

let version: string | null = null;

/** `@ts/engine`'s version, from the nearest package.json of that name above this file. */
function engineVersion(): string {
  if (version !== null) return version;
  version = 'unknown';
  for (let dir = import.meta.dirname; dir !== dirname(dir); dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (!existsSync(file)) continue;
    const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
    if (pkg.name === '@ts/engine') {
      version = pkg.version ?? 'unknown';
      break;
    }
  }
  return version;
}
