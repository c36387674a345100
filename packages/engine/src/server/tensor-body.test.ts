import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Engine } from '../engine/engine.js';
import { encodeSafetensors, testTensor } from '../model/loader/loader.test-helpers.js';
import { createServer } from './create-server.js';
import { launchTiny, recordCalls } from './tiny-engine.test-helpers.js';

// One real engine (builtin:tiny) for the file; each test gets its own server.
let engine: Engine;
beforeAll(async () => {
  engine = await launchTiny();
});
afterAll(() => engine?.shutdown());

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  vi.restoreAllMocks();
});

/** Opens a POST of `declared` bytes, sends `first`, and resolves with the reply (sending no more). */
async function postPartly(declared: number, first: Uint8Array, headers = {}) {
  const { port } = (app as FastifyInstance).server.address() as AddressInfo;
  return new Promise<{ status: number; body: string; ms: number }>((resolve, reject) => {
    const started = performance.now();
    const req = request(
      {
        port,
        method: 'POST',
        path: '/update_weights_from_tensor',
        headers: {
          'content-type': 'application/octet-stream',
          'content-length': declared,
          ...headers,
        },
      },
      (res) => {
        let body = '';
        res.on('data', (chunk) => {
          body += chunk;
        });
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, body, ms: performance.now() - started });
          req.destroy();
        });
      },
    );
    req.on('error', reject);
    req.write(first);
  });
}

describe('update_weights_from_tensor bodies are checked header first', () => {
  it('refuses a 1 GiB garbage body after its first bytes, without reading the rest', async () => {
    app = createServer(engine);
    await app.listen({ port: 0, host: '127.0.0.1' });
    const garbage = new Uint8Array(64 * 1024).fill(0xab);
    const reply = await postPartly(1024 ** 3, garbage);
    expect(reply.status).toBe(400);
    expect(JSON.parse(reply.body).message).toBe(
      'update_weights_from_tensor: not a safetensors body the model takes: its header length does not fit: is it a safetensors file?',
    );
    expect(reply.ms).toBeLessThan(1000);
  });

  it('refuses tensors the model does not have before their data arrives', async () => {
    const calls = recordCalls(engine, ['updateWeightsFromTensors']);
    app = createServer(engine);
    await app.listen({ port: 0, host: '127.0.0.1' });
    const file = encodeSafetensors([testTensor('rogue.weight', [1024, 1024], 'float32')]);
    const headerEnd = 8 + Number(Buffer.from(file).readBigUInt64LE(0));
    const reply = await postPartly(file.byteLength, file.subarray(0, headerEnd));
    expect(reply.status).toBe(400);
    expect(JSON.parse(reply.body).message).toBe('tensors: the model has no parameter rogue.weight');
    expect(calls).toEqual([]);
  });

  it('refuses a body whose length is not what its header describes', async () => {
    app = createServer(engine);
    const norm = testTensor('model.norm.weight', [128], 'float32');
    const file = Buffer.from(encodeSafetensors([norm]));
    const res = await app.inject({
      method: 'POST',
      url: '/update_weights_from_tensor',
      headers: { 'content-type': 'application/octet-stream' },
      payload: Buffer.concat([file, Buffer.alloc(4)]),
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().message).toMatch(/the body is \d+ bytes; its header describes \d+/);
  });

  it('asks for the admin key before reading any of the body', async () => {
    app = createServer(engine, { adminKey: 'k' });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const reply = await postPartly(1024 ** 3, new Uint8Array(1024));
    expect(reply.status).toBe(401);
  });
});
