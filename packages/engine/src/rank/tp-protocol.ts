// Messages between the leader of a tensor-parallel group (TP rank 0, the rank with the scheduler)
// and each of its peers, over a MessagePort of their own. One port carries steps and calls in
// the order the leader sent them, and a peer handles them one at a time in that order, so every
// rank runs the same forward passes, and frees or takes memory, at the same point of the sequence.
import type { ControlResult } from '@ts/pause';
import type { ForwardSequence } from '../model/forward-batch.js';
import type { NamedTensor } from '../model/weights/named-tensors.js';

/** A weight update as the leader received it: whole tensors, each rank cutting its own share. */
export type WeightUpdate =
  | { from: 'disk'; path: string }
  | { from: 'tensors'; tensors: NamedTensor[] };

export type PeerCall =
  /** The leader's KV pool size and running limit: the peer builds its pool and runner to match. */
  | { op: 'start'; numPages: number; maxRunning: number }
  | { op: 'pause'; tag: string }
  | { op: 'resume'; tag: string }
  /** Right after a kv_cache resume: the peer's KV pools, zeroed (spec rule 10). */
  | { op: 'repair' }
  | { op: 'updateWeights'; update: WeightUpdate }
  | { op: 'residentBytes' };

/** A peer's memory after a call: bytes each tag holds (`bytes(tag)`), as the saver counts them. */
export interface PeerMemory extends ControlResult {
  tagBytes: Record<string, number>;
}

export interface PeerReplies {
  start: PeerMemory;
  pause: PeerMemory;
  resume: PeerMemory;
  repair: ControlResult & { repairedPools: string[] };
  updateWeights: ControlResult;
  /** Bytes each tag physically holds (the KV pools' as the OS counts them): `stats`. */
  residentBytes: ControlResult & { residentBytes: Record<string, number> };
}

export type PeerOp = PeerCall['op'];
export type PeerCallOf<K extends PeerOp> = Extract<PeerCall, { op: K }>;
export type PeerReply<K extends PeerOp = PeerOp> = PeerReplies[K];

export type ToPeer =
  | { type: 'call'; id: number; call: PeerCall }
  /** One forward pass, the leader's batch as its runner takes it; no reply. */
  | { type: 'step'; sequences: ForwardSequence[] }
  | { type: 'shutdown' };

export type FromPeer = { type: 'reply'; id: number; reply: PeerReply };
