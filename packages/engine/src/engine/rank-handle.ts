import { Worker } from 'node:worker_threads';
import { failedReply } from '../protocol/merge-replies.js';
import type {
  ControlOpName,
  ControlOpOf,
  ControlReply,
  FromWorker,
  ReadyInfo,
  TokenEvent,
  ToWorker,
  WorkerInit,
} from '../protocol/worker-protocol.js';
import { portsOf } from './tp-launch.js';

/** The main side of one rank's worker: start-up, control calls with replies, token events. */
export class RankHandle {
  readonly ready: Promise<ReadyInfo>;
  /** Requests submitted to this rank and not finished: the router's load measure. */
  inFlight = 0;
  /** Tokens this rank has generated (counted on the main side, as they arrive). */
  generatedTokens = 0;
  /** Prompt tokens submitted to this rank, and those of them the prefix cache gave. */
  promptTokens = 0;
  cachedTokens = 0;
  private readonly worker: Worker;
  private readonly replies = new Map<
    number,
    { op: ControlOpName; resolve: (reply: ControlReply) => void }
  >();
  private nextId = 1;
  private exited: string | null = null;
  /** Why this rank cannot serve though its worker runs (a tensor-parallel peer of it is gone). */
  private broken: string | null = null;
  readonly rank: number;

  constructor(
    init: WorkerInit,
    workerUrl: URL,
    onToken: (message: TokenEvent) => void,
    onProgress: (loaded: number, total: number) => void,
    private readonly onGone: (reason: string) => void = () => {},
  ) {
    const rank = init.rank;
    this.rank = rank;
    this.worker = new Worker(workerUrl, { workerData: init, transferList: portsOf(init) });
    this.ready = new Promise((resolve, reject) => {
      this.worker.on('message', (message: FromWorker) => {
        if (message.type === 'ready') resolve(message.info);
        else if (message.type === 'failed')
          reject(new Error(`rank ${rank} failed to start: ${message.message}`));
        else if (message.type === 'progress') onProgress(message.loadedBytes, message.totalBytes);
        else if (message.type === 'tokens') for (const event of message.events) onToken(event);
        else if (message.type === 'reply') this.replies.get(message.id)?.resolve(message.reply);
      });
      this.worker.on('error', (error) => {
        this.fail(`rank ${rank} crashed: ${error.message}`);
        reject(error);
      });
      this.worker.on('exit', (code) => {
        this.fail(`rank ${rank} exited (code ${code})`);
        reject(new Error(`rank ${rank} exited before it was ready (code ${code})`));
      });
    });
  }

  /** Why the rank cannot serve (its worker crashed or exited, or a peer of it did), or null. */
  get gone(): string | null {
    return this.exited ?? this.broken;
  }

  /** The rank's group lost a peer: no new request goes to it (control calls still do, and fail). */
  markBroken(reason: string): void {
    this.broken ??= reason;
  }

  post(message: ToWorker): void {
    if (!this.exited) this.worker.postMessage(message);
  }

  /** Sends a control message; resolves with this rank's reply (a failure if the rank is gone). */
  control<K extends ControlOpName>(control: ControlOpOf<K>): Promise<ControlReply<K>> {
    const op = control.op as K;
    if (this.exited) return Promise.resolve(failedReply(op, this.exited));
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.replies.set(id, {
        op,
        resolve: (reply) => {
          this.replies.delete(id);
          // The worker answers an op with that op's reply type.
          resolve(reply as ControlReply<K>);
        },
      });
      this.worker.postMessage({ type: 'control', id, control } satisfies ToWorker);
    });
  }

  async shutdown(): Promise<void> {
    if (this.exited) return;
    const exited = new Promise((resolve) => this.worker.once('exit', resolve));
    this.post({ type: 'shutdown' });
    const timeout = setTimeout(() => void this.worker.terminate(), 5000);
    await exited;
    clearTimeout(timeout);
  }

  private fail(reason: string): void {
    if (this.exited) return;
    this.exited = reason;
    for (const [id, { op, resolve }] of this.replies) {
      this.replies.delete(id);
      resolve(failedReply(op, reason));
    }
    this.onGone(reason);
  }
}
