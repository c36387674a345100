// @module-tag cuda
import { afterEach, describe, expect, it } from 'vitest';
import { type ServerProcess, startServer } from './server-process.js';

// Issue 14.2: SIGTERM / SIGINT complete within a bounded time, whatever state the engine is
// in, and every request in flight gets a reply.
const servers: ServerProcess[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.child.kill('SIGKILL');
});

async function serve(args: string[]) {
  const server = await startServer(['--model', 'builtin:tiny', ...args]);
  servers.push(server);
  const post = (path: string, body: object) =>
    fetch(`${server.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  const exited = new Promise<{ code: number | null; at: number }>((resolve) =>
    server.child.once('exit', (code) => resolve({ code, at: performance.now() })),
  );
  return { server, post, exited };
}

const waitingGenerate = (post: (p: string, b: object) => Promise<Response>) =>
  post('/generate', { text: 'Hello', sampling_params: { max_new_tokens: 8 } }).then(
    (res) => res.json() as Promise<{ meta_info: { finish_reason: { type: string } } }>,
  );

describe('shutdown', () => {
  it('while released with a request waiting: the request is answered (abort) and the server exits 0 after the deadline', async () => {
    const { server, post, exited } = await serve(['--shutdown-timeout', '1']);
    expect((await post('/release_memory_occupation', {})).status).toBe(200);
    const waiting = waitingGenerate(post);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const signalled = performance.now();
    server.child.kill('SIGTERM');
    expect((await waiting).meta_info.finish_reason.type).toBe('abort');
    const { code, at } = await exited;
    expect(code).toBe(0);
    expect(at - signalled).toBeLessThan(5000);
    expect(server.log()).toContain('after 1 s: ending the requests still open (abort)');
  });

  it('while paused (keep) with a running request: the same, on SIGINT', async () => {
    const { server, post, exited } = await serve(['--shutdown-timeout', '0.5']);
    expect((await post('/pause_generation', { mode: 'keep' })).status).toBe(200);
    const waiting = waitingGenerate(post);
    await new Promise((resolve) => setTimeout(resolve, 200));
    server.child.kill('SIGINT');
    expect((await waiting).meta_info.finish_reason.type).toBe('abort');
    expect((await exited).code).toBe(0);
  });

  it('lets running requests finish within the deadline, and refuses new connections meanwhile', async () => {
    const { server, post, exited } = await serve(['--shutdown-timeout', '20']);
    const running = post('/generate', {
      text: 'Hello',
      sampling_params: { max_new_tokens: 200, ignore_eos: true },
    }).then((res) => res.json() as Promise<{ meta_info: { finish_reason: { type: string } } }>);
    await new Promise((resolve) => setTimeout(resolve, 50));
    server.child.kill('SIGTERM');
    expect((await running).meta_info.finish_reason.type).toBe('length');
    expect((await exited).code).toBe(0);
    await expect(fetch(`${server.url}/health`)).rejects.toThrow();
  });

  it('a second signal exits at once', async () => {
    const { server, post, exited } = await serve(['--shutdown-timeout', '60']);
    await post('/release_memory_occupation', {});
    void waitingGenerate(post).catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 200));
    server.child.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 200));
    const second = performance.now();
    server.child.kill('SIGTERM');
    const { code, at } = await exited;
    expect(code).toBe(1);
    expect(at - second).toBeLessThan(2000);
  });
});
