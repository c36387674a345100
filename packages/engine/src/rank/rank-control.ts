import type { MemorySaver } from '@ts/memory-saver-native';
import type { ControlResult } from '@ts/pause';
import type { ModelConfig } from '../model/loader/model-config.js';
import type { WeightChecks } from '../model/weights/non-finite-check.js';
import type { ControlOp, ControlReply } from '../protocol/worker-protocol.js';
import type { Rank } from './rank.js';
import { addBytes, residentBytesOf } from './resident-bytes.js';
import { answerFailure, type TpPeers } from './tp-peers.js';
import type { WeightUpdate } from './tp-protocol.js';
import { updateWeightsFromDisk, updateWeightsFromTensors } from './update-weights.js';

/** What a rank answers control calls with. */
export interface RankControlContext {
  saver: MemorySaver;
  rank: Rank;
  config: ModelConfig;
  /** The rank's tensor-parallel peers, when it leads a group of `tpSize` ranks. */
  peers: TpPeers | null;
  tpSize: number;
  checks: WeightChecks;
  /** Weight updates still to fail before they write (a test fault; 0 in service). */
  failingUpdates: { count: number };
}

/** One control call on a rank (its group's peers too, where the call concerns them). */
export async function rankControl(
  context: RankControlContext,
  c: ControlOp,
): Promise<ControlReply> {
  const { saver, rank, config, peers, checks } = context;
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
      return (
        injectedFailure(context) ??
        groupUpdate(context, { from: 'disk', path: c.path }, () =>
          updateWeightsFromDisk(saver, rank, config, c.path, checks),
        )
      );
    case 'updateWeightsFromTensors':
      return (
        injectedFailure(context) ??
        groupUpdate(context, { from: 'tensors', tensors: c.tensors }, () =>
          updateWeightsFromTensors(saver, rank, config, c.tensors, checks),
        )
      );
    case 'stats': {
      const residentBytes = residentBytesOf(saver, rank.kvPools.list());
      for (const answer of (await peers?.call({ op: 'residentBytes' })) ?? [])
        if ('reply' in answer) addBytes(residentBytes, answer.reply.residentBytes);
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

/**
 * A weight update of the leader and, under tensor parallelism, of its peers too, all with no
 * forward pass in flight (a peer gets the update before any later step); the replies merged.
 */
function groupUpdate(
  { rank, peers, tpSize }: RankControlContext,
  update: WeightUpdate,
  own: () => Promise<ControlResult>,
): Promise<ControlResult> {
  if (!peers) return own();
  return rank.loop.exclusive(async () => {
    const [mine, theirs] = await Promise.all([own(), peers.call({ op: 'updateWeights', update })]);
    const failed = [
      ...(mine.success ? [] : [`tp rank 0: ${mine.message}`]),
      ...theirs.map(answerFailure).filter((f) => f !== null),
    ];
    if (failed.length === 0) return mine;
    // The checks run on the whole tensors on every rank, so they agree; only a read or a write
    // failing on some ranks leaves the others updated.
    const note =
      failed.length < tpSize ? '; the ranks that succeeded hold the new weights: update again' : '';
    return { success: false, message: `weight update failed on ${failed.join('; ')}${note}` };
  });
}

/** `{ success, message }` alone: what the loop adds for itself (a pause's plan) stays here. */
function result({ success, message }: ControlResult): ControlResult {
  return { success, message };
}

/** A weight update's failure the test faults ask for, before anything is written; else null. */
function injectedFailure(context: RankControlContext): ControlResult | null {
  if (context.failingUpdates.count === 0) return null;
  context.failingUpdates.count -= 1;
  return {
    success: false,
    message: 'weight update failed, the old weights stay: an injected test fault',
  };
}
