import type { FastifyInstance } from 'fastify';
import type { EngineApi } from '../engine-api.js';

export interface ShutdownOptions {
  app: FastifyInstance;
  engine: EngineApi;
  /** How long running requests may go on finishing before they are ended (`abort`). */
  timeoutMs: number;
  log(line: string): void;
  exit(code: number): void;
}

/**
 * What a signal does: the first stops accepting, lets running requests finish until the
 * deadline, then ends every remaining one with a reply (finish reason `abort`; also those
 * waiting while the engine is released or paused) and exits 0. A second signal exits at once (1).
 */
export function gracefulShutdown(options: ShutdownOptions): (signal: string) => Promise<void> {
  let closing = false;
  return async (signal) => {
    if (closing) {
      options.log(`${signal} again: exiting now`);
      options.exit(1);
      return;
    }
    closing = true;
    const seconds = options.timeoutMs / 1000;
    options.log(`${signal}: shutting down (running requests have ${seconds} s to finish)`);
    const closed = options.app.close();
    // Keep-alive connections go idle as their replies end; close them as they do, or the
    // server waits for their keep-alive timeout (72 s).
    const idle = setInterval(() => options.app.server.closeIdleConnections(), 50);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), options.timeoutMs);
    });
    const outcome = await Promise.race([closed.then(() => 'closed' as const), late]);
    clearTimeout(timer);
    if (outcome === 'late')
      options.log(`after ${seconds} s: ending the requests still open (abort)`);
    await options.engine.shutdown();
    await closed;
    clearInterval(idle);
    options.exit(0);
  };
}
