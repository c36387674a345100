// The entry of one rank's worker thread: its own device context, model, KV pool and scheduler
// loop; messages from the engine between loop iterations. Under tensor parallelism the leader
// of each group (TP rank 0) is such a rank, and its peers run `runPeer` instead.
import { parentPort, workerData } from 'node:worker_threads';
import {
  type Communicator,
  createCommunicator,
  createMemorySaver,
  type MemorySaver,
} from '@ts/memory-saver-native';
import { failMapAfter } from '@ts/memory-saver-native/testing';
import { type LoopEvent, Sequence } from '@ts/scheduler';
import { openBuiltinTiny } from '../model/builtin-tiny.js';
import { expectedLlamaTensors } from '../model/loader/llama-weights.js';
import type { ModelConfig } from '../model/loader/model-config.js';
import { openCheckpoint } from '../model/loader/open-checkpoint.js';
import { servingDtype } from '../model/serving-dtype.js';
import { planLlamaShards, type ShardPlan } from '../model/tensor-parallel/shard-plan.js';
import type { LoadProgress } from '../model/weights/load-weights.js';
import { failedReply } from '../protocol/merge-replies.js';
import { switchesOf } from '../protocol/switches.js';
import type {
  ControlOpName,
  FromWorker,
  TokenEvent,
  ToWorker,
  WorkerInit,
} from '../protocol/worker-protocol.js';
import { stepTrace } from '../trace/step-trace.js';
import { createRank } from './rank.js';
import { rankControl } from './rank-control.js';
import { loadRankWeights } from './rank-model.js';
import { TpGroup } from './tp-group.js';
import { runPeer } from './tp-peer.js';
import { TpPeers } from './tp-peers.js';

if (!parentPort) throw new Error('rank-worker must run in a worker thread');
const port = parentPort;
const { rank: rankIndex, options, tp } = workerData as WorkerInit;
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
  const first = event.token !== null && event.outputIndex === 0;
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

/**
 * Ranks whose KV pools come out of this rank's memory: every rank on the CPU (one host), the
 * ranks on this GPU otherwise. The fraction is of the device's memory, shared among them.
 */
function ranksSharingDevice(saver: MemorySaver): number {
  if (saver.device === 'cpu') return options.dpSize * options.tpSize;
  return options.gpuIds.filter((gpu) => gpu === options.gpuIds[rankIndex]).length;
}

/** This worker's shard plan and communicator under tensor parallelism; null at TP 1. */
function joinGroup(
  saver: MemorySaver,
  config: ModelConfig,
): { plan: ShardPlan; comm: Communicator } | null {
  if (options.tpSize === 1) return null;
  const plan = planLlamaShards(config, options.tpSize, tp.rank);
  const comm = createCommunicator(saver, {
    groupId: tp.groupId,
    worldSize: options.tpSize,
    rank: tp.rank,
  });
  return { plan, comm };
}

/** The test faults meant for this worker, armed once it is ready. */
function armTestFaults(saver: MemorySaver): void {
  const fault = options.testFaults.failMapAfter;
  if (fault && fault.dpRank === rankIndex && fault.tpRank === tp.rank)
    failMapAfter(saver, fault.successes);
}

/** The test fault that ends this peer's worker, as a crash would, after `steps` passes. */
function exitAfterSteps(steps: number): void {
  const fault = options.testFaults.exitAfterSteps;
  if (fault?.dpRank === rankIndex && fault.tpRank === tp.rank && steps >= fault.steps)
    process.exit(1);
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
  const group = joinGroup(saver, config);
  const onProgress = (p: LoadProgress) =>
    send({ type: 'progress', loadedBytes: p.bytes, totalBytes: p.totalBytes });
  if (group && tp.leader) {
    const { plan, comm } = group;
    const allowNonFinite = options.allowNonFiniteWeights;
    const weights = await loadRankWeights(saver, checkpoint, dtype, plan, {
      onProgress,
      allowNonFinite,
    }).finally(() => checkpoint.close());
    await runPeer({
      saver,
      config,
      dtype,
      plan,
      comm,
      weights,
      options,
      leader: tp.leader,
      onStarted: () => {
        exitAfterSteps(0);
        armTestFaults(saver);
        send({ type: 'peerReady' });
      },
      onFatal: (message) => send({ type: 'failed', message }),
      onStep: exitAfterSteps,
    });
    port.close();
    return;
  }
  const peers = group ? new TpPeers(tp.peers) : null;
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
      ...switchesOf(options),
      onProgress,
      ...(group && peers
        ? {
            parallel: {
              plan: group.plan,
              model: { tpSize: options.tpSize, dims: group.plan.dims, comm: group.comm },
              group: new TpGroup(peers),
            },
          }
        : {}),
    },
    onEvent,
  ).finally(() => checkpoint.close());
  const failing = options.testFaults.failWeightUpdates;
  const context = {
    saver,
    rank,
    config,
    peers,
    tpSize: options.tpSize,
    checks: weightChecks,
    failingUpdates: { count: failing?.dpRank === rankIndex && tp.rank === 0 ? failing.count : 0 },
  };
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
        void rankControl(context, message.control).then(
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
  armTestFaults(saver);
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
  try {
    await rank.run();
  } finally {
    // The last step is done: the peers may leave, and the group with them.
    peers?.shutdown();
    group?.comm.close();
  }
  for (const peer of tp.peers) peer.unref();
  port.close();
}

main().catch((error: unknown) =>
  send({ type: 'failed', message: error instanceof Error ? error.message : String(error) }),
);
