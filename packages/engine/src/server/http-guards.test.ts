import type { FastifyInstance, InjectOptions } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Engine } from '../engine/engine.js';
import { createServer, type ServerOptions } from './create-server.js';
import { hostName, LOOPBACK_HOSTS } from './http-guards.js';
import { launchTiny, recordCalls } from './tiny-engine.test-helpers.js';

// One real engine (builtin:tiny) for the file; each test gets its own server.
let real: Engine;
beforeAll(async () => {
  real = await launchTiny();
});
afterAll(() => real?.shutdown());

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  vi.restoreAllMocks();
  if ((await real.isSleeping()).isSleeping) await real.resumeMemoryOccupation();
});

function serve(options: ServerOptions = {}) {
  const engine = {
    calls: recordCalls(real, ['releaseMemoryOccupation', 'resumeMemoryOccupation']),
  };
  app = createServer(real, options);
  const inject = (request: InjectOptions) => (app as FastifyInstance).inject(request);
  return { engine, inject };
}

const release = { method: 'POST', url: '/release_memory_occupation' } as const;

describe('bodies are JSON only when they say so', () => {
  it.each([
    'text/plain',
    'text/plain;charset=UTF-8',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x',
  ])('refuses a %s body with 415 and changes nothing (a cross-site form post)', async (type) => {
    const { engine, inject } = serve();
    const res = await inject({ ...release, headers: { 'content-type': type }, payload: '{}' });
    expect(res.statusCode).toBe(415);
    expect(res.json()).toEqual({
      success: false,
      message: `Content-Type ${type} is not read: send JSON with Content-Type: application/json`,
    });
    expect(engine.calls).toEqual([]);
    expect((await real.isSleeping()).isSleeping).toBe(false);
  });

  it('reads application/json and +json types, and a POST without a body', async () => {
    const { engine, inject } = serve();
    const json = { 'content-type': 'application/json; charset=utf-8' };
    expect((await inject({ ...release, headers: json, payload: '{}' })).statusCode).toBe(200);
    const resume = { method: 'POST', url: '/resume_memory_occupation' } as const;
    const vendor = { 'content-type': 'application/vnd.api+json' };
    expect((await inject({ ...resume, headers: vendor, payload: '{}' })).statusCode).toBe(200);
    expect((await inject(release)).statusCode).toBe(200);
    expect(engine.calls.map(([name]) => name)).toEqual([
      'releaseMemoryOccupation',
      'resumeMemoryOccupation',
      'releaseMemoryOccupation',
    ]);
  });
});

describe('CORS', () => {
  const preflight = (origin: string) =>
    ({
      method: 'OPTIONS',
      url: '/release_memory_occupation',
      headers: {
        origin,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type',
      },
    }) as const;

  it('answers a preflight without allowing any origin by default', async () => {
    const { inject } = serve();
    const res = await inject(preflight('https://evil.example'));
    expect(res.statusCode).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('allows the origins named, and only those', async () => {
    const { inject } = serve({ corsOrigins: ['https://ui.example'] });
    const ok = await inject(preflight('https://ui.example'));
    expect(ok.headers['access-control-allow-origin']).toBe('https://ui.example');
    const other = await inject(preflight('https://evil.example'));
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
  });
});

describe('the Host check (loopback, no key)', () => {
  it('answers loopback names and refuses any other Host with 403, before any route runs', async () => {
    const { engine, inject } = serve({ allowedHosts: LOOPBACK_HOSTS });
    for (const host of ['localhost:30000', '127.0.0.1:30000', '[::1]:30000', 'LOCALHOST']) {
      expect((await inject({ method: 'GET', url: '/health', headers: { host } })).statusCode).toBe(
        200,
      );
    }
    const rebound = await inject({
      ...release,
      headers: { host: 'attacker.example:30000', 'content-type': 'application/json' },
      payload: '{}',
    });
    expect(rebound.statusCode).toBe(403);
    expect(rebound.json().message).toBe(
      "Host attacker.example:30000 is not this server's: it answers localhost, 127.0.0.1, ::1",
    );
    expect(engine.calls).toEqual([]);
  });

  it('accepts any Host when not asked to check', async () => {
    const { inject } = serve();
    const res = await inject({ method: 'GET', url: '/health', headers: { host: 'a.example' } });
    expect(res.statusCode).toBe(200);
  });

  it('parses Host headers', () => {
    expect(hostName('Example.com:80')).toBe('example.com');
    expect(hostName('[::1]')).toBe('::1');
    expect(hostName('bad:host:1')).toBeNull();
    expect(hostName(undefined)).toBeNull();
  });
});
