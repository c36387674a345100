import type { MemorySaver } from '@ts/memory-occupation';
import { answerFailure, type PeerAnswer, type TpPeers } from './tp-peers.js';
import type { PeerMemory } from './tp-protocol.js';

type MemoryAnswer = PeerAnswer<'pause' | 'resume'>;

/**
 * The memory of a whole tensor-parallel group behind the one saver port of the leader's memory
 * controller, so the group releases and resumes as one (spec rule 11) and the controller's
 * own rules hold for all of it. A tag's pause or resume goes to every rank; when one rank fails,
 * the ranks that did it are turned back, so the tag stays as it was on every rank and the call
 * throws naming the rank (a failed resume leaves everything released and retryable: rule 13).
 * `bytes` adds the peers' counts as they last reported them (they change only on pause/resume).
 */
export class TpGroupSaver implements MemorySaver {
  private readonly peerBytes = new Map<number, Record<string, number>>();

  constructor(
    private readonly local: MemorySaver,
    private readonly peers: TpPeers,
    started: readonly PeerAnswer<'start'>[],
  ) {
    this.record(started);
  }

  async pause(tag: string): Promise<void> {
    await this.local.pause(tag);
    const answers = await this.peers.call({ op: 'pause', tag });
    this.record(answers);
    const failed = answers.map(answerFailure).filter((f) => f !== null);
    if (failed.length === 0) return;
    await this.local.resume(tag);
    await this.turnBack(answers, 'resume', tag);
    throw new Error(`pause(${tag}) failed on ${failed.join('; ')}: every rank keeps it`);
  }

  async resume(tag: string): Promise<void> {
    const [local, answers] = await Promise.all([
      Promise.resolve(this.local.resume(tag)).then(
        () => null,
        (error: unknown) => `tp rank 0: ${error instanceof Error ? error.message : String(error)}`,
      ),
      this.peers.call({ op: 'resume', tag }),
    ]);
    this.record(answers);
    const failed = [local, ...answers.map(answerFailure)].filter((f) => f !== null);
    if (failed.length === 0) return;
    if (local === null) await this.local.pause(tag);
    await this.turnBack(answers, 'pause', tag);
    throw new Error(`${failed.join('; ')} (every rank of the group keeps ${tag} released)`);
  }

  bytes(tag: string): number {
    let total = this.local.bytes(tag);
    for (const bytes of this.peerBytes.values()) total += bytes[tag] ?? 0;
    return total;
  }

  synchronize(): unknown {
    return this.local.synchronize?.();
  }

  /** Undoes `tag`'s pause or resume on the peers where it succeeded. */
  private async turnBack(answers: readonly MemoryAnswer[], op: 'pause' | 'resume', tag: string) {
    const done = answers.filter((a) => answerFailure(a) === null).map((a) => a.tpRank);
    const undone = await this.peers.callSome(done, { op, tag });
    this.record(undone);
    const stuck = undone.map(answerFailure).filter((f) => f !== null);
    if (stuck.length > 0)
      throw new Error(`${op}(${tag}) to turn a failed call back failed too: ${stuck.join('; ')}`);
  }

  private record(answers: readonly PeerAnswer<'start' | 'pause' | 'resume'>[]): void {
    for (const answer of answers)
      if ('reply' in answer)
        this.peerBytes.set(answer.tpRank, (answer.reply as PeerMemory).tagBytes);
  }
}
