/**
 * Raw HTTP calls as the frameworks' Python clients send them (the wire is what is tested, not a
 * client), and the checks and retry loops they wrap them in.
 */
import { request as httpRequest } from 'node:http';
import { expect } from 'vitest';

export interface Reply {
  status: number;
  contentType: string;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: a reply is read the way the framework reads it
  json: any;
}

/**
 * One HTTP call as Python's `requests` / `aiohttp` / `httpx` send it: a JSON body with
 * `content-type: application/json` when there is a body. Bounded, so a server that never answers
 * (a pause that stays) fails the test instead of hanging it.
 */
export async function call(
  base: string,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
  timeoutMs = 30_000,
): Promise<Reply> {
  const init: RequestInit = {
    method,
    headers: { ...headers },
    signal: AbortSignal.timeout(timeoutMs),
  };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    (init.headers as Record<string, string>)['content-type'] = 'application/json';
  }
  const response = await fetch(`${base}${path}`, init);
  return read(response.status, response.headers.get('content-type') ?? '', await response.text());
}

export const post = (
  base: string,
  path: string,
  body?: unknown,
  headers?: Record<string, string>,
) => call(base, 'POST', path, body, headers);
export const get = (base: string, path: string, headers?: Record<string, string>) =>
  call(base, 'GET', path, undefined, headers);

/** A GET with a JSON body, as `requests.request("GET", url, json={})` sends it (fetch cannot). */
export function getWithBody(base: string, path: string, body: unknown): Promise<Reply> {
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${base}${path}`,
      {
        method: 'GET',
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(payload),
        },
      },
      (res) => {
        let text = '';
        res.on('data', (chunk) => {
          text += chunk;
        });
        res.on('end', () =>
          resolve(read(res.statusCode ?? 0, String(res.headers['content-type'] ?? ''), text)),
        );
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

function read(status: number, contentType: string, text: string): Reply {
  let json: unknown;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status, contentType, text, json };
}

/** `raise_for_status()`: a 2xx, else the test fails naming the call and the server's answer. */
export function ok(reply: Reply, what: string): Reply {
  expect(reply.status, `${what} answered ${reply.status}: ${reply.text}`).toBeGreaterThanOrEqual(
    200,
  );
  expect(reply.status, `${what} answered ${reply.status}: ${reply.text}`).toBeLessThan(300);
  return reply;
}

/** A POST that raises for its status. */
export async function postOk(base: string, path: string, body: unknown, what = `POST ${path}`) {
  return ok(await post(base, path, body), what);
}

/** A GET that raises for its status. */
export async function getOk(base: string, path: string): Promise<Reply> {
  return ok(await get(base, path), `GET ${path}`);
}

/** Polls `probe` every `everyMs` until `done` holds (the framework's retry loop); its last value. */
export async function until<T>(
  probe: () => Promise<T>,
  done: (value: T) => boolean,
  { tries = 200, everyMs = 25 } = {},
): Promise<T> {
  let value = await probe();
  for (let i = 1; i < tries && !done(value); i++) {
    await new Promise((r) => setTimeout(r, everyMs));
    value = await probe();
  }
  return value;
}

/** GET `path` until it answers 200 (a start-up or flush loop), then raise for its status. */
export async function getUntil200(
  base: string,
  path: string,
  { headers, tries }: { headers?: Record<string, string>; tries?: number } = {},
): Promise<Reply> {
  const reply = await until(
    () => get(base, path, headers),
    (r) => r.status === 200,
    { tries },
  );
  return ok(reply, `GET ${path}`);
}
