/**
 * What every framework replay shares: a real `ts-engine serve` on the llama fixture, raw HTTP
 * calls (the wire is what is tested, not a client), rollouts long enough to be in flight when an
 * abort, pause or release arrives, and the check that generation after a weight update equals a
 * fresh server started on the new checkpoint.
 */
import { request as httpRequest } from 'node:http';
import { afterEach, expect } from 'vitest';
import { LLAMA } from '../checkpoints.js';
import { type ServerProcess, startServer } from '../server-process.js';

export { LLAMA, secondCheckpoint } from '../checkpoints.js';

/** Room for several 1200-token rollouts at once: 2048 pages of 4 tokens. */
const POOL = ['--page-size', '4', '--num-pages', '2048'];
/** Long enough to be in flight when the control call arrives; short enough for 2 CI cores. */
export const ROLLOUT_TOKENS = 1200;
/** Prompts of the llama fixture (byte ids) whose greedy rollouts do not hit EOS early. */
export const PROMPTS = [
  [1, 5, 9, 33, 2],
  [1, 72, 101, 108, 108, 111],
  [1, 84, 104, 101, 32],
  [1, 40, 41, 42],
];

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

/** Tokens generated so far, from `/metrics` (SGLang's series, or this engine's own). */
async function generatedTokens(base: string): Promise<number> {
  const text = (await get(base, '/metrics')).text;
  const line =
    /^(?:sglang[:_]generation_tokens_total|ts_engine_generated_tokens_total)(?:\{[^}]*\})? (\S+)/m.exec(
      text,
    );
  return Number(line?.[1] ?? 0);
}

/** Waits until the server has generated `n` more tokens: the rollouts are decoding. */
export async function whileDecoding(base: string, n = 48): Promise<void> {
  const start = await generatedTokens(base);
  const now = await until(
    () => generatedTokens(base),
    (t) => t >= start + n,
    { tries: 400, everyMs: 10 },
  );
  expect(now, 'the rollouts never started decoding').toBeGreaterThanOrEqual(start + n);
}

/** The rollouts' replies: each a 2xx `/generate` answer, in prompt order. */
export async function settle(rollouts: Promise<Reply>[]): Promise<Reply[]> {
  const replies = await Promise.all(rollouts);
  for (const r of replies) ok(r, 'POST /generate');
  return replies;
}

/**
 * What the frameworks read from a `/generate` reply (slime/miles `Sample.append_response_tokens`,
 * AReaL `parse_generation_response`, ROLL `postprocess_generate`), with SGLang's types.
 */
export function expectGenerateReply(r: Reply, logprobs = true): void {
  expect(r.contentType).toMatch(/^application\/json/);
  expect(typeof r.json.text).toBe('string');
  expect(Array.isArray(r.json.output_ids)).toBe(true);
  const m = r.json.meta_info;
  expect(typeof m.id).toBe('string');
  expect(['stop', 'length', 'abort']).toContain(m.finish_reason?.type);
  expect(typeof m.prompt_tokens).toBe('number');
  expect(m.completion_tokens).toBe(r.json.output_ids.length);
  expect(typeof m.weight_version).toBe('string');
  expect
    .soft(typeof m.cached_tokens, 'meta_info.cached_tokens (slime/miles prefix-cache stats)')
    .toBe('number');
  if (!logprobs) return;
  expect(m.output_token_logprobs.map((e: unknown[]) => e[1])).toEqual(r.json.output_ids);
  for (const [lp] of m.output_token_logprobs) expect(lp).toBeLessThanOrEqual(0);
}

/** The aborted rollouts, each with the tokens it had: at least one, with some output. */
export function partials(replies: Reply[]): Reply[] {
  const aborted = replies.filter((r) => r.json.meta_info.finish_reason.type === 'abort');
  expect(aborted.length, 'no rollout was in flight when the abort came').toBeGreaterThan(0);
  expect(aborted.some((r) => r.json.output_ids.length > 0)).toBe(true);
  return aborted;
}

/**
 * The same bodies, concurrently, to a fresh server on `checkpoint`: greedy output and logprobs
 * equal those `replies` carry (rule 12: nothing changes in the output).
 */
export async function expectSameAsFresh(
  checkpoint: string,
  bodies: unknown[],
  replies: Reply[],
  args: string[] = [],
): Promise<void> {
  const fresh = await serve(checkpoint, args);
  const reference = await settle(bodies.map((b) => post(fresh, '/generate', b)));
  expect(replies.map((r) => r.json.output_ids)).toEqual(reference.map((r) => r.json.output_ids));
  expect(replies.map((r) => r.json.meta_info.output_token_logprobs)).toEqual(
    reference.map((r) => r.json.meta_info.output_token_logprobs),
  );
}
