import type { MessagePort } from 'node:worker_threads';
import type { ForwardSequence } from '../model/forward-batch.js';
import type {
  FromPeer,
  PeerCallOf,
  PeerOp,
  PeerReplies,
  PeerReply,
  ToPeer,
} from './tp-protocol.js';

/** One peer's reply, or why it could not answer (its port closed: the peer is gone). */
export type PeerAnswer<K extends PeerOp> = { tpRank: number } & (
  | { reply: PeerReply<K> }
  | { gone: string }
);

/** The leader's end of one peer (TP rank `tpRank`): calls with replies, steps without. */
class Peer {
  private readonly pending = new Map<number, (answer: PeerReply | string) => void>();
  private nextId = 1;
  private goneReason: string | null = null;

  constructor(
    readonly tpRank: number,
    private readonly port: MessagePort,
  ) {
    port.on('message', (message: FromPeer) => {
      const resolve = this.pending.get(message.id);
      this.pending.delete(message.id);
      resolve?.(message.reply);
    });
    port.on('close', () => this.fail(`tp rank ${tpRank} is gone`));
  }

  call<K extends PeerOp>(call: PeerCallOf<K>): Promise<PeerAnswer<K>> {
    const tpRank = this.tpRank;
    if (this.goneReason) return Promise.resolve({ tpRank, gone: this.goneReason });
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, (answer) =>
        resolve(
          typeof answer === 'string'
            ? { tpRank, gone: answer }
            : // The peer answers an op with that op's reply.
              { tpRank, reply: answer as PeerReplies[K] },
        ),
      );
      this.post({ type: 'call', id, call });
    });
  }

  post(message: ToPeer): void {
    if (!this.goneReason) this.port.postMessage(message);
  }

  /** Asks the peer to leave; its port closes as its thread ends. */
  shutdown(): void {
    this.post({ type: 'shutdown' });
  }

  private fail(reason: string): void {
    this.goneReason ??= reason;
    for (const resolve of this.pending.values()) resolve(reason);
    this.pending.clear();
  }
}

/**
 * The leader's peers (TP ranks 1, 2, ...). Calls go to all of them and resolve with every
 * answer; steps are posted before the leader runs its own share, so the peers run the same
 * pass as the leader's collectives wait for them.
 */
export class TpPeers {
  private readonly peers: Peer[];

  constructor(ports: readonly MessagePort[]) {
    this.peers = ports.map((port, i) => new Peer(i + 1, port));
  }

  get size(): number {
    return this.peers.length;
  }

  call<K extends PeerOp>(call: PeerCallOf<K>): Promise<PeerAnswer<K>[]> {
    return Promise.all(this.peers.map((peer) => peer.call(call)));
  }

  /** Asks only the peers of `tpRanks`. */
  callSome<K extends PeerOp>(
    tpRanks: readonly number[],
    call: PeerCallOf<K>,
  ): Promise<PeerAnswer<K>[]> {
    const some = this.peers.filter((peer) => tpRanks.includes(peer.tpRank));
    return Promise.all(some.map((peer) => peer.call(call)));
  }

  forward(sequences: readonly ForwardSequence[]): void {
    for (const peer of this.peers) peer.post({ type: 'step', sequences: [...sequences] });
  }

  /** Tells every peer to leave: after the leader's last step. */
  shutdown(): void {
    for (const peer of this.peers) peer.shutdown();
  }
}

/** The message of an answer that failed (`null` when it succeeded), naming the rank. */
export function answerFailure<K extends PeerOp>(answer: PeerAnswer<K>): string | null {
  if ('gone' in answer) return answer.gone;
  return answer.reply.success ? null : `tp rank ${answer.tpRank}: ${answer.reply.message}`;
}
