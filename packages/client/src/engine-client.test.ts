import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { EngineClient } from './engine-client.js';

interface Seen {
  method: string;
  url: string;
  auth: string | undefined;
  body: string;
}

let server: Server | undefined;

afterEach(() => server?.close());

/** A loopback HTTP server that records what it is sent and answers from a table. */
async function serve(
  answers: Record<string, [number, string]>,
): Promise<{ client: EngineClient; seen: Seen[] }> {
  const seen: Seen[] = [];
  server = createServer(async (req: IncomingMessage, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    seen.push({
      method: req.method ?? '',
      url: req.url ?? '',
      auth: req.headers.authorization,
      body,
    });
    const [status, text] = answers[req.url ?? ''] ?? [
      404,
      '{"success":false,"message":"no route"}',
    ];
    res.writeHead(status, { 'content-type': 'application/json' }).end(text);
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { client: new EngineClient({ baseUrl: `http://127.0.0.1:${port}/`, apiKey: 'k' }), seen };
}

describe('EngineClient', () => {
  it('sends SGLang-shaped control bodies and returns the replies', async () => {
    const { client, seen } = await serve({
      '/release_memory_occupation': [
        200,
        '{"success":true,"message":"released [weights]","released_tags":["weights"]}',
      ],
      '/is_sleeping': [200, '{"is_sleeping":true}'],
      '/continue_generation': [200, ''],
    });
    const release = await client.releaseMemoryOccupation({ tags: ['weights'] });
    expect(release).toMatchObject({ success: true, released_tags: ['weights'] });
    expect(await client.isSleeping()).toMatchObject({ success: true, is_sleeping: true });
    expect(await client.continueGeneration()).toEqual({ success: true, message: 'ok' });
    expect(seen[0]).toEqual({
      method: 'POST',
      url: '/release_memory_occupation',
      auth: 'Bearer k',
      body: '{"tags":["weights"]}',
    });
    expect(seen[1]?.method).toBe('GET');
  });

  it("carries the server's message on failure and never throws", async () => {
    const { client } = await serve({
      '/resume_memory_occupation': [
        400,
        '{"success":false,"message":"tags not released: [kv_cache]"}',
      ],
      '/flush_cache': [500, 'upstream exploded'],
    });
    expect(await client.resumeMemoryOccupation({ tags: ['kv_cache'] })).toEqual({
      success: false,
      message: 'tags not released: [kv_cache]',
    });
    expect(await client.flushCache()).toEqual({
      success: false,
      message: 'POST /flush_cache: HTTP 500: upstream exploded',
    });
    expect((await client.pauseGeneration({ mode: 'keep' })).message).toBe('no route');
    expect((await client.health()).success).toBe(false);
  });

  it('turns a refused connection into a failure reply', async () => {
    const client = new EngineClient({ baseUrl: 'http://127.0.0.1:9' });
    const reply = await client.releaseMemoryOccupation();
    expect(reply.success).toBe(false);
    expect(reply.message).toMatch(/^POST \/release_memory_occupation: /);
  });
});
