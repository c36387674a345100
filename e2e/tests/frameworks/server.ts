/**
 * A real `ts-engine serve` per replay, on the llama fixture unless told otherwise, with a KV pool
 * large enough for the rollouts; every server a test starts is stopped after it, exiting 0.
 */
import { afterEach, expect } from 'vitest';
import { LLAMA } from '../checkpoints.js';
import { type ServerProcess, startServer } from '../server-process.js';

export { LLAMA, secondCheckpoint } from '../checkpoints.js';

/** Room for several 1200-token rollouts at once: 2048 pages of 4 tokens. */
const POOL = ['--page-size', '4', '--num-pages', '2048'];

const servers: ServerProcess[] = [];
afterEach(async () => {
  const codes = await Promise.all(servers.splice(0).map((s) => s.stop()));
  expect(codes.every((c) => c === 0)).toBe(true);
});

/** `ts-engine serve` on a checkpoint (the llama fixture by default); stopped after the test. */
export async function serve(model = LLAMA, args: string[] = []): Promise<string> {
  const server = await startServer(['--model', model, ...POOL, ...args]);
  servers.push(server);
  return server.url;
}
