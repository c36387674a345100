// The entry of one data-parallel rank's worker thread: its own device context, model, KV
// pool and scheduler loop; messages from the engine between loop iterations.
import { parentPort, workerData } from 'node:worker_threads';
import { createMemorySaver, type MemorySaver } from '@ts/memory-saver-native';
import type { ControlResult } from '@ts/pause';
import { type LoopEvent, Sequence } from '@ts/scheduler';
import { openBuiltinTiny } from '../model/builtin-tiny.js';
import { expectedLlamaTensors } from '../model/loader/llama-weights.js';
import { openCheckpoint } from '../model/loader/open-checkpoint.js';
import { servingDtype } from '../model/serving-dtype.js';
import { createRank, type Rank } from '../rank/rank.js';
import { stepTrace } from '../trace/step-trace.js';
import { failedReply } from './merge-replies.js';
import { updateWeightsFromDisk, updateWeightsFromTensors } from './update-weights.js';
import type {
  ControlOp,
  ControlOpName,
  ControlReply,
  FromWorker,
  TokenEvent,
  ToWorker,
  WorkerInit,
} from './worker-protocol.js';

if (!parentPort) throw new Error('rank-worker must run in a worker thread');
const port = parentPort;
const { rank: rankIndex, options } = workerData as WorkerInit;
const send = (message: FromWorker) => port.postMessage(message);

// A step's token events go to the main thread in one message, sent once the step's
// synchronous postprocess is done: one postMessage per step rather than per sequence.
const pendingTokens: TokenEvent[] = [];
function sendToken(event: TokenEvent): void {
  if (pendingTokens.length === 0)
    queueMicrotask(() => send({ type: 'tokens', events: pendingTokens.splice(0) }));
  pendingTokens.push(event);
}
const weightChecks = { allowNonFinite: options.allowNonFiniteWeights };

function onEvent(event: LoopEvent): void {
  const error = 'error' in event ? event.error : undefined;
  const logprob = 'logprob' in event ? event.logprob : undefined;
  const { seq } = event;
  const first = event.token !== null && seq.length - seq.promptLength === 1;
  const inputLogprobs = first && seq.params.logprobStartLen >= 0 ? seq.inputLogprobs : undefined;
  sendToken({
    rid: event.seq.id,
    token: event.token,
    finishReason: event.finishReason,
    ...(logprob !== undefined ? { logprob } : {}),
    ...(inputLogprobs ? { inputLogprobs } : {}),
    ...(first ? { cachedTokens: seq.cachedTokens ?? 0 } : {}),
    ...('tokenIdsLogprobs' in event && event.tokenIdsLogprobs
      ? { tokenIdsLogprobs: event.tokenIdsLogprobs }
      : {}),
    ...('topLogprobs' in event && event.topLogprobs ? { topLogprobs: event.topLogprobs } : {}),
    ...(error ? { error } : {}),
  });
}

async function control(
  saver: MemorySaver,
  rank: Rank,
  c: ControlOp,
  config: Parameters<typeof updateWeightsFromDisk>[2],
): Promise<ControlReply> {
  const loop = rank.loop;
  switch (c.op) {
    case 'release':
      return loop.releaseMemory(c.tags);
    case 'resume':
      return loop.resumeMemory(c.tags);
    case 'isSleeping':
      return loop.isSleeping();
    case 'pause':
      return result(await loop.pauseGeneration(c.mode));
    case 'continue':
      return result(loop.continueGeneration());
    case 'flush':
      return loop.flushCache();
    case 'beginWeightUpdate':
      return result(loop.beginWeightUpdate());
    case 'endWeightUpdate':
      return result(loop.endWeightUpdate());
    case 'updateWeightsFromDisk':
      return updateWeightsFromDisk(saver, rank, config, c.path, weightChecks);
    case 'updateWeightsFromTensors':
      return updateWeightsFromTensors(saver, rank, config, c.tensors, weightChecks);
    case 'stats': {
      const residentBytes: Record<string, number> = {};
      for (const [tag, stats] of Object.entries(saver.stats()))
        if (tag) residentBytes[tag] = stats.residentBytes;
      // The pools' pages as the device holds them (on the CPU, the OS's count: untouched pages
      // of a mapped pool are not resident), not the mapped size.
      if (!saver.isPaused('kv_cache'))
        residentBytes.kv_cache = rank.kvPools
          .list()
          .reduce((n, pool) => n + saver.residentBytes(pool.allocation), 0);
      return {
        success: true,
        message: 'ok',
        residentBytes,
        waiting: rank.scheduler.waiting.length,
        running: rank.scheduler.running.length,
        forwardPasses: loop.passes,
        // Pages the running requests hold (shared ones once); the prefix cache's alone are free to evict.
        usedPages: new Set(rank.scheduler.running.flatMap((seq) => seq.pageTable)).size,
        totalPages: rank.kv.numPages,
        steps: loop.stepStats,
      };
    }
  }
}

/** `{ success, message }` alone: what the loop adds for itself (a pause's plan) stays here. */
function result({ success, message }: ControlResult): ControlResult {
  return { success, message };
}

/**
 * Ranks whose KV pools come out of this rank's memory: every rank on the CPU (one host), the
 * ranks on this GPU otherwise. The fraction is of the device's memory, shared among them.
 */
function ranksSharingDevice(saver: MemorySaver): number {
  if (saver.device === 'cpu') return options.dpSize;
  return options.gpuIds.filter((gpu) => gpu === options.gpuIds[rankIndex]).length;
}

async function main(): Promise<void> {
  const saver = createMemorySaver({
    device: options.device,
    deviceIndex: options.gpuIds[rankIndex] ?? 0,
    keepBackups: !options.freeBackupsOnWake,
  });
  const checkpoint =
    options.model === 'builtin:tiny' ? openBuiltinTiny() : await openCheckpoint(options.model);
  const config = checkpoint.config;
  const dtype = servingDtype(options.dtype, config.torchDtype, saver.device);
  const rank = await createRank(
    saver,
    checkpoint,
    {
      dtype,
      pageSize: options.pageSize,
      ...(options.numPages ? { numPages: options.numPages } : {}),
      kvMemoryFraction: options.kvMemoryFraction / ranksSharingDevice(saver),
      ...(options.maxRunning !== null ? { maxRunning: options.maxRunning } : {}),
      maxBatchTokens: options.maxBatchTokens,
      maxInputLogprobRows: options.maxInputLogprobRows,
      scheduleConservativeness: options.scheduleConservativeness,
      maxContext: options.maxContext,
      prefixCache: options.prefixCache,
      cudaGraphs: options.cudaGraphs,
      allowNonFiniteWeights: options.allowNonFiniteWeights,
      onProgress: (p) => send({ type: 'progress', loadedBytes: p.bytes, totalBytes: p.totalBytes }),
    },
    onEvent,
  ).finally(() => checkpoint.close());
  port.on('message', (message: ToWorker) => {
    switch (message.type) {
      case 'submit': {
        stepTrace(`rank ${rankIndex} received ${message.rid}`);
        try {
          rank.loop.submit(new Sequence(message.rid, message.inputIds, message.sampling));
        } catch (error) {
          sendToken({
            rid: message.rid,
            token: null,
            finishReason: 'abort',
            error: String((error as Error).message ?? error),
          });
        }
        break;
      }
      case 'abort':
        rank.loop.abort(message.rid);
        break;
      case 'control':
        stepTrace(`rank ${rankIndex} control ${message.control.op}`);
        void control(saver, rank, message.control, config).then(
          (reply) => send({ type: 'reply', id: message.id, reply }),
          (error: unknown) =>
            send({
              type: 'reply',
              id: message.id,
              reply: failedReply(message.control.op as ControlOpName, String(error)),
            }),
        );
        break;
      case 'shutdown':
        rank.loop.stop();
        break;
    }
  });
  send({
    type: 'ready',
    info: {
      architecture: config.architecture,
      vocabSize: config.vocabSize,
      device: saver.deviceName,
      dtype,
      numPages: rank.kv.numPages,
      maxRunning: rank.maxRunning,
      eosTokenIds: [...config.eosTokenIds],
      bosTokenId: config.bosTokenId,
      weights: expectedLlamaTensors(config).required.map(({ name, shape }) => ({ name, shape })),
    },
  });
  await rank.run();
  port.close();
}

main().catch((error: unknown) =>
  send({ type: 'failed', message: error instanceof Error ? error.message : String(error) }),
);
