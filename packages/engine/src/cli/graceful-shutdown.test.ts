import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createServer } from '../server/create-server.js';
import { launchTiny, recordCalls } from '../server/tiny-engine.test-helpers.js';
import { gracefulShutdown } from './graceful-shutdown.js';

const apps: ReturnType<typeof createServer>[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
  vi.restoreAllMocks();
});

/** A real engine (builtin:tiny) per test: the shutdown under test ends it. */
async function serving(timeoutMs: number) {
  const real = await launchTiny();
  const engine = { calls: recordCalls(real, ['shutdown']), shutdown: () => real.shutdown() };
  const app = createServer(real);
  app.addHook('onClose', () => real.shutdown());
  apps.push(app);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  const lines: string[] = [];
  const exits: number[] = [];
  const close = gracefulShutdown({
    app,
    engine: real,
    timeoutMs,
    log: (line) => lines.push(line),
    exit: (code) => exits.push(code),
  });
  // A request that runs for seconds on the CPU (1000 tokens, EOS ignored) unless ended.
  const generate = (rid: string) =>
    fetch(`http://127.0.0.1:${port}/generate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        text: 'x',
        rid,
        sampling_params: { max_new_tokens: 1000, ignore_eos: true },
      }),
    }).then((res) => res.json() as Promise<{ meta_info: { finish_reason: { type: string } } }>);
  return { engine, close, generate, lines, exits };
}

describe('gracefulShutdown', () => {
  it('ends a request that cannot finish (abort) at the deadline, then exits 0', async () => {
    const { engine, close, generate, lines, exits } = await serving(100);
    const stuck = generate('hang-1');
    await new Promise((resolve) => setTimeout(resolve, 50));
    const started = performance.now();
    await close('SIGTERM');
    expect(performance.now() - started).toBeLessThan(2000);
    expect((await stuck).meta_info.finish_reason.type).toBe('abort');
    expect(exits).toEqual([0]);
    expect(lines).toEqual([
      'SIGTERM: shutting down (running requests have 0.1 s to finish)',
      'after 0.1 s: ending the requests still open (abort)',
    ]);
    expect(engine.calls.at(-1)).toEqual(['shutdown', undefined]);
  });

  it('exits at once with 1 on a second signal', async () => {
    const { engine, close, generate, exits, lines } = await serving(60_000);
    void generate('hang-2').catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const first = close('SIGINT');
    await close('SIGINT');
    expect(exits).toEqual([1]);
    expect(lines.at(-1)).toBe('SIGINT again: exiting now');
    await engine.shutdown();
    await first;
  });

  it('exits 0 without waiting when nothing is in flight', async () => {
    const { close, exits, lines } = await serving(60_000);
    await close('SIGTERM');
    expect(exits).toEqual([0]);
    expect(lines).toHaveLength(1);
  });
});
