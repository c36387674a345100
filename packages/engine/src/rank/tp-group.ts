import type { KvPoolHandle, MemorySaver as OccupationSaver } from '@ts/memory-occupation';
import type { ForwardSequence } from '../model/forward-batch.js';
import type { RankGroup } from './rank-group.js';
import { TpGroupSaver } from './tp-group-saver.js';
import { answerFailure, type PeerAnswer, type TpPeers } from './tp-peers.js';

/** The leader's `RankGroup`: its peers reached through their ports. */
export class TpGroup implements RankGroup {
  private started: PeerAnswer<'start'>[] = [];

  constructor(readonly peers: TpPeers) {}

  async start(layout: { numPages: number; maxRunning: number }): Promise<void> {
    this.started = await this.peers.call({ op: 'start', ...layout });
    const failed = this.started.map(answerFailure).filter((f) => f !== null);
    if (failed.length > 0)
      throw new Error(`tensor-parallel peers failed to start: ${failed.join('; ')}`);
  }

  saver(local: OccupationSaver): OccupationSaver {
    return new TpGroupSaver(local, this.peers, this.started);
  }

  pools(): KvPoolHandle[] {
    return Array.from({ length: this.peers.size }, (_, i) => {
      const tpRank = i + 1;
      return {
        name: `target (tp rank ${tpRank})`,
        repair: async () => {
          const failed = (await this.peers.callSome([tpRank], { op: 'repair' })).map(answerFailure);
          if (failed[0]) throw new Error(failed[0]);
        },
      };
    });
  }

  forward(sequences: readonly ForwardSequence[]): void {
    this.peers.forward(sequences);
  }
}
