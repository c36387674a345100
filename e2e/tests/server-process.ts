import { type ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';

const CLI = resolve(import.meta.dirname, '../../packages/engine/dist/cli/main.js');
/** The device the servers run on: the CPU in CI, `TS_E2E_DEVICE=cuda` on the device machine. */
const DEVICE = process.env.TS_E2E_DEVICE ?? 'cpu';

export interface ServerProcess {
  url: string;
  child: ChildProcess;
  log: () => string;
  stop(): Promise<number | null>;
}

/** Starts `ts-engine serve` as a child process on a free port; resolves once it listens. */
export function startServer(args: string[]): Promise<ServerProcess> {
  const child = spawn(
    process.execPath,
    [CLI, 'serve', '--device', DEVICE, '--port', '0', ...args],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${output}`)), 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /serving (http:\/\/\S+)/.exec(output);
      if (!match?.[1]) return;
      clearTimeout(timer);
      resolvePromise({
        url: match[1],
        child,
        log: () => output,
        stop: () =>
          new Promise((done) => {
            child.once('exit', (code) => done(code));
            child.kill('SIGINT');
          }),
      });
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`server exited (${code}):\n${output}`)));
  });
}
