import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { EngineClient } from './engine-client.js';
import { EngineClientError } from './errors.js';

type Handler = (body: string, res: ServerResponse) => void;

let server: Server | undefined;
afterEach(() => server?.close());

/** A loopback server answering each path with a handler; records the bodies it got. */
async function serve(routes: Record<string, Handler>) {
  const bodies: Array<[string, string]> = [];
  const contentTypes: Array<string | undefined> = [];
  server = createServer(async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    bodies.push([`${req.method} ${req.url}`, body]);
    contentTypes.push(req.headers['content-type']);
    const route = routes[req.url ?? ''];
    if (route) route(body, res);
    else res.writeHead(404).end('{"success":false,"message":"no route"}');
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    client: new EngineClient({ baseUrl: `http://127.0.0.1:${port}` }),
    bodies,
    contentTypes,
  };
}

const json =
  (status: number, value: unknown): Handler =>
  (_body, res) =>
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));

const sse =
  (events: string[], done = true): Handler =>
  (_body, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    for (const e of events) res.write(`data: ${e}\n\n`);
    res.end(done ? 'data: [DONE]\n\n' : '');
  };

const reply = (text: string) => ({
  text,
  output_ids: [1],
  meta_info: {
    id: 'r',
    prompt_tokens: 1,
    cached_tokens: 0,
    completion_tokens: 1,
    finish_reason: null,
    e2e_latency: 0,
  },
});

describe('generate', () => {
  it('posts stream: false and returns the reply (one prompt or a batch)', async () => {
    const { client, bodies } = await serve({ '/generate': json(200, reply('hi')) });
    expect(await client.generate({ text: 'a', sampling_params: { max_new_tokens: 1 } })).toEqual(
      reply('hi'),
    );
    await client.generateBatch({ input_ids: [[1], [2]], rid: ['x', 'y'] });
    expect(bodies.map(([, b]) => JSON.parse(b))).toEqual([
      { text: 'a', sampling_params: { max_new_tokens: 1 }, stream: false },
      { input_ids: [[1], [2]], rid: ['x', 'y'], stream: false },
    ]);
  });

  it("throws EngineClientError with the server's message and status", async () => {
    const { client } = await serve({
      '/generate': json(400, { success: false, message: 'text: bad' }),
      '/v1/models': json(401, { error: { message: 'no key' } }),
      '/model_info': (_b, res) => res.writeHead(502).end('bad gateway'),
      '/metrics': (_b, res) => res.writeHead(200).end('not json'),
    });
    const error = await client.generate({ text: 'a' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EngineClientError);
    expect(EngineClientError.isInstance(error)).toBe(true);
    expect(EngineClientError.isInstance(new Error('x'))).toBe(false);
    expect(error).toMatchObject({
      name: 'EngineClientError',
      message: 'text: bad',
      status: 400,
      body: { success: false, message: 'text: bad' },
    });
    await expect(client.listModels()).rejects.toMatchObject({ message: 'no key', status: 401 });
    await expect(client.modelInfo()).rejects.toMatchObject({
      message: 'GET /model_info: HTTP 502: bad gateway',
      status: 502,
    });
    expect(await client.metrics()).toBe('not json');
  });

  it('throws on a reply that is not JSON, on a failed metrics scrape and on no server', async () => {
    const { client } = await serve({
      '/model_info': (_b, res) => res.writeHead(200).end('<html>'),
      '/metrics': json(503, { success: false, message: 'closing' }),
    });
    await expect(client.modelInfo()).rejects.toThrow('GET /model_info: not JSON: <html>');
    await expect(client.metrics()).rejects.toMatchObject({ message: 'closing', status: 503 });
    const nobody = new EngineClient({ baseUrl: 'http://127.0.0.1:9' });
    await expect(nobody.generate({ text: 'a' })).rejects.toMatchObject({
      status: undefined,
      message: expect.stringMatching(/^POST \/generate: /),
    });
  });
});

describe('generateStream', () => {
  it('posts stream: true and yields every update until [DONE]', async () => {
    const { client, bodies } = await serve({
      '/generate': sse([JSON.stringify(reply('a')), JSON.stringify(reply('ab'))]),
    });
    const texts: string[] = [];
    for await (const update of client.generateStream({ text: 'x' })) texts.push(update.text);
    expect(texts).toEqual(['a', 'ab']);
    expect(JSON.parse(bodies[0]?.[1] ?? '')).toEqual({ text: 'x', stream: true });
    const indexed = [];
    for await (const u of client.generateBatchStream({ text: ['x'] })) indexed.push(u);
    expect(indexed).toHaveLength(2);
  });

  it('throws the error an event carries, a refusal, a bad event and a cut stream', async () => {
    const { client } = await serve({
      '/generate': (body, res) => {
        const { text } = JSON.parse(body);
        if (text === 'refused') return json(400, { success: false, message: 'no way' })(body, res);
        if (text === 'error') return sse(['{"error":{"message":"rank died"}}'])(body, res);
        if (text === 'garbage') return sse(['{nope'])(body, res);
        return sse([JSON.stringify(reply('a'))], false)(body, res);
      },
    });
    const drain = async (text: string) => {
      for await (const _ of client.generateStream({ text })) {
        // read to the end
      }
    };
    await expect(drain('refused')).rejects.toMatchObject({ message: 'no way', status: 400 });
    await expect(drain('error')).rejects.toMatchObject({ message: 'rank died', status: 200 });
    await expect(drain('garbage')).rejects.toThrow('POST /generate: bad event: {nope');
    await expect(drain('cut')).rejects.toThrow('POST /generate: the stream ended before [DONE]');
  });
});

describe('control calls added', () => {
  it('sends update_weights_from_disk and abort_request bodies', async () => {
    const { client, bodies } = await serve({
      '/update_weights_from_disk': json(200, { success: true, message: 'loaded' }),
      '/abort_request': json(400, { success: false, message: 'no request r' }),
    });
    expect(await client.updateWeightsFromDisk({ model_path: '/m' })).toEqual({
      success: true,
      message: 'loaded',
    });
    expect(await client.abortRequest({ rid: 'r' })).toEqual({
      success: false,
      message: 'no request r',
    });
    expect(bodies).toEqual([
      ['POST /update_weights_from_disk', '{"model_path":"/m"}'],
      ['POST /abort_request', '{"rid":"r"}'],
    ]);
  });

  it('sends abort_all, and weights as raw safetensors bytes', async () => {
    const { client, bodies, contentTypes } = await serve({
      '/abort_request': json(200, { success: true, message: 'aborting 2 requests' }),
      '/update_weights_from_tensor': json(200, { success: true, message: '1 tensors updated' }),
    });
    expect((await client.abortRequest({ abort_all: true })).message).toBe('aborting 2 requests');
    const bytes = new TextEncoder().encode('safetensors bytes');
    expect((await client.updateWeightsFromTensor(bytes)).success).toBe(true);
    expect(bodies).toEqual([
      ['POST /abort_request', '{"abort_all":true}'],
      ['POST /update_weights_from_tensor', 'safetensors bytes'],
    ]);
    expect(contentTypes).toEqual(['application/json', 'application/octet-stream']);
  });

  it('names weight versions and reads the current one', async () => {
    const { client, bodies } = await serve({
      '/update_weights_from_tensor?weight_version=step%201': json(200, {
        success: true,
        message: 'ok',
      }),
      '/get_weight_version': json(200, { weight_version: 'step 1' }),
    });
    const bytes = new TextEncoder().encode('st');
    expect(
      (await client.updateWeightsFromTensor(bytes, { weight_version: 'step 1' })).success,
    ).toBe(true);
    expect(await client.getWeightVersion()).toEqual({ weight_version: 'step 1' });
    expect(bodies.map(([route]) => route)).toEqual([
      'POST /update_weights_from_tensor?weight_version=step%201',
      'GET /get_weight_version',
    ]);
  });

  it('answers a failure for a reply that is JSON but not an object', async () => {
    const { client } = await serve({ '/health': json(200, 42) });
    expect(await client.health()).toEqual({ success: false, message: 'GET /health: HTTP 200: 42' });
  });
});
