import { randomUUID } from 'node:crypto';
import { MessageChannel, type TransferListItem } from 'node:worker_threads';
import { openBuiltinTiny } from '../model/builtin-tiny.js';
import { openCheckpoint } from '../model/loader/open-checkpoint.js';
import { checkTensorParallel } from '../model/tensor-parallel/shard-plan.js';
import type { ResolvedOptions } from '../protocol/options.js';
import type { WorkerInit } from '../protocol/worker-protocol.js';

/**
 * The workers of data-parallel rank `dpRank`: its leader first (TP rank 0), then each peer,
 * every peer joined to the leader by a port of its own and all of them to one communicator group.
 */
export function groupInits(dpRank: number, options: ResolvedOptions): WorkerInit[] {
  const groupId = `tp-${randomUUID()}-dp${dpRank}`;
  const channels = Array.from({ length: options.tpSize - 1 }, () => new MessageChannel());
  const leader: WorkerInit = {
    rank: dpRank,
    options,
    tp: { rank: 0, groupId, peers: channels.map((c) => c.port1), leader: null },
  };
  const peers = channels.map(
    (channel, i): WorkerInit => ({
      rank: dpRank,
      options,
      tp: { rank: i + 1, groupId, peers: [], leader: channel.port2 },
    }),
  );
  return [leader, ...peers];
}

/** The ports a worker's init carries, to transfer with it. */
export function portsOf(init: WorkerInit): TransferListItem[] {
  return [...init.tp.peers, ...(init.tp.leader ? [init.tp.leader] : [])];
}

/**
 * Throws a `TensorParallelError` before any worker starts when the model does not split
 * `options.tpSize` ways (heads, KV heads, intermediate size, vocabulary), naming each count.
 */
export async function checkModelSplits(options: ResolvedOptions): Promise<void> {
  if (options.tpSize === 1) return;
  const checkpoint =
    options.model === 'builtin:tiny' ? openBuiltinTiny() : await openCheckpoint(options.model);
  try {
    checkTensorParallel(checkpoint.config, options.tpSize);
  } finally {
    await checkpoint.close();
  }
}
