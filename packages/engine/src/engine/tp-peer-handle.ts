import { Worker } from 'node:worker_threads';
import type { FromWorker, WorkerInit } from '../protocol/worker-protocol.js';
import { portsOf } from './tp-launch.js';

/**
 * The main side of a tensor-parallel peer's worker: only its start-up and its end. Everything
 * else goes through its leader (which also tells it to shut down).
 */
export class PeerHandle {
  readonly ready: Promise<void>;
  private readonly worker: Worker;
  private exited = false;

  constructor(
    readonly init: WorkerInit,
    workerUrl: URL,
    onProgress: (loaded: number, total: number) => void,
    /** The peer failed or its worker ended while the engine runs: its group cannot serve. */
    onGone: (reason: string) => void,
  ) {
    const name = `rank ${init.rank} (tp rank ${init.tp.rank})`;
    this.worker = new Worker(workerUrl, { workerData: init, transferList: portsOf(init) });
    this.ready = new Promise((resolve, reject) => {
      this.worker.on('message', (message: FromWorker) => {
        if (message.type === 'peerReady') resolve();
        else if (message.type === 'progress') onProgress(message.loadedBytes, message.totalBytes);
        else if (message.type === 'failed') {
          reject(new Error(`${name} failed to start: ${message.message}`));
          onGone(`${name} failed: ${message.message}`);
        }
      });
      this.worker.on('error', (error) => {
        reject(error);
        onGone(`${name} crashed: ${error.message}`);
      });
      this.worker.on('exit', (code) => {
        this.exited = true;
        reject(new Error(`${name} exited before it was ready (code ${code})`));
        onGone(`${name} exited (code ${code})`);
      });
    });
    this.ready.catch(() => {});
  }

  /** Waits for the worker to end (its leader tells it to); ends it after `timeoutMs`. */
  async shutdown(timeoutMs = 5000): Promise<void> {
    if (this.exited) return;
    const exited = new Promise((resolve) => this.worker.once('exit', resolve));
    const timeout = setTimeout(() => void this.worker.terminate(), timeoutMs);
    await exited;
    clearTimeout(timeout);
  }
}
