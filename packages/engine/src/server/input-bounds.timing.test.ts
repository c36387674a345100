import { mkdtempSync, symlinkSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../engine/engine.js';
import { DEVICE, FIXTURES } from '../model/runner.test-helpers.js';
import { loadHfTokenizer } from '../tokenizer/hf-tokenizer.js';
import { lenmlModelDir } from '../tokenizer/tokenizer.test-helpers.js';
import { createServer } from './create-server.js';

interface Served {
  engine: Engine;
  app: FastifyInstance;
  url: string;
}

async function serve(model: string, options: { maxContext: number; numPages: number }) {
  const engine = await Engine.launch({ model, device: DEVICE, pageSize: 16, ...options });
  const app = createServer(engine);
  await app.listen({ host: '127.0.0.1', port: 0 });
  return { engine, app, url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}` };
}

async function close(served: Served | undefined): Promise<void> {
  await served?.app.close();
  await served?.engine.shutdown();
}

const post = (url: string, body: unknown) =>
  fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

/** A client in a thread of its own: building and sending a large body costs this loop nothing. */
const CLIENT = `
const { parentPort, workerData: w } = require('node:worker_threads');
// { "text": "aaa…" } built as bytes: a string of 200 MB would take this thread seconds to encode.
const body = w.textOf
  ? Buffer.concat([Buffer.from('{"text":"'), Buffer.alloc(w.textOf, 'a'), Buffer.from('"}')])
  : w.json;
fetch(w.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
  .then(async (r) => parentPort.postMessage({ status: r.status, body: await r.json() }))
  .catch((e) => parentPort.postMessage({ status: 0, body: { message: String(e.cause ?? e) } }));
`;

interface Answer {
  status: number;
  body: { message?: string; tokens?: number[] };
}

/** POSTs JSON (or `{ text: 'a' × textOf }`) from another thread. */
function postInThread(url: string, payload: { json?: string; textOf?: number }): Promise<Answer> {
  const worker = new Worker(CLIENT, { eval: true, workerData: { url, ...payload } });
  return new Promise((resolve, reject) => {
    worker.once('message', (answer: Answer) => {
      resolve(answer);
      void worker.terminate();
    });
    worker.once('error', reject);
  });
}

/**
 * What `work` answers, how long it took, the slowest /health while it ran, and the longest the
 * event loop was blocked meanwhile. /health is called one after another, and a call's time
 * counts from the end of the one before (less a 2 ms pause), so a block of the event loop
 * between calls counts too; the first call is left out (it may meet the client thread's start).
 */
async function whileHealthPolled(url: string, work: () => Promise<Answer>) {
  const started = performance.now();
  const loop = monitorEventLoopDelay({ resolution: 5 });
  loop.enable();
  let done = false;
  const answer = work().finally(() => {
    done = true;
  });
  const latencies: number[] = [];
  let last = performance.now();
  while (!done) {
    await new Promise((r) => setTimeout(r, 2));
    expect((await fetch(`${url}/health`)).status).toBe(200);
    const now = performance.now();
    latencies.push(now - last - 2);
    last = now;
  }
  loop.disable();
  return {
    ...(await answer),
    seconds: (performance.now() - started) / 1000,
    probes: latencies.length,
    slowestHealthMs: Math.max(0, ...latencies.slice(1)),
    longestBlockMs: loop.max / 1e6,
  };
}

/** The worse of a run's slowest /health and its longest block of the event loop. */
const worst = (run: { slowestHealthMs: number; longestBlockMs: number }) =>
  Math.max(run.slowestHealthMs, run.longestBlockMs);

/**
 * The same /health polling for `seconds` with no request in flight: what this machine's load
 * alone adds (other test files run beside this one).
 */
async function quietPoll(url: string, seconds: number) {
  return whileHealthPolled(url, async () => {
    await new Promise((r) => setTimeout(r, Math.min(3000, seconds * 1000)));
    return { status: 200, body: {} };
  });
}

/**
 * How much `work` delays /health and blocks the event loop beyond the same polling with
 * nothing in flight, measured right after it.
 */
async function delayOf(url: string, work: () => Promise<Answer>) {
  const run = await whileHealthPolled(url, work);
  if (worst(run) < 100) return { ...run, excessMs: worst(run) };
  const quiet = await quietPoll(url, run.seconds);
  const excessMs = Math.max(
    run.slowestHealthMs - quiet.slowestHealthMs,
    run.longestBlockMs - quiet.longestBlockMs,
  );
  return { ...run, excessMs };
}

/**
 * The run of `work` (up to `attempts` runs) that delays /health least. A garbage collection
 * of the main thread's tokenizer (~100 MB of heap, up to ~130 ms a pause here) or this shared
 * machine's other load can delay one /health call in any run; parsing or tokenizing on the
 * main thread delays one in every run, by the whole parse or encode.
 */
async function quietestOf(attempts: number, url: string, work: () => Promise<Answer>) {
  let best = await delayOf(url, work);
  for (let i = 1; i < attempts && best.excessMs >= 100; i++) {
    const next = await delayOf(url, work);
    if (next.excessMs < best.excessMs) best = next;
  }
  return best;
}

describe('input bounds over HTTP (builtin:tiny, a KV pool of 8 pages of 16 tokens)', () => {
  let tiny: Served | undefined;
  beforeAll(async () => {
    tiny = await serve('builtin:tiny', { maxContext: 512, numPages: 8 });
  });
  afterAll(() => close(tiny));
  const url = () => (tiny as Served).url;

  it('answers a 50 MB prompt 413 at once, without tokenizing it', {
    timeout: 120_000,
  }, async () => {
    const answer = await quietestOf(3, url(), () =>
      postInThread(`${url()}/generate`, { textOf: 50 * 1024 * 1024 }),
    );
    expect(answer.status).toBe(413);
    expect(answer.body.message).toMatch(
      /^text: 52428800 characters cannot fit the context of 512 tokens/,
    );
    // Sending and parsing 50 MB takes 2-11 s here (CI load); tokenizing it as well took 20 s more.
    expect(answer.seconds).toBeLessThan(20);
    // Read in blocks, then parsed and measured in a parse thread: parsing it on the main
    // thread held the loop (and /health) 0.5-2 s here; now ~30 ms at most, and ~80 ms /health.
    expect(answer.probes).toBeGreaterThanOrEqual(3);
    expect(answer.excessMs).toBeLessThan(100);
    const tokenize = await post(`${url()}/tokenize`, { prompt: 'a'.repeat(513) });
    expect(tokenize.status).toBe(413);
  });

  // Its Content-Length passes the server's 64 MiB: refused before a byte of it is read (what
  // the client sends on is drained for up to 5 s so it reads the reply; that socket work, with
  // the client's thread in this process, is not held to the 100 ms of a parse).
  it('answers a 200 MB body 413 before reading it', { timeout: 60_000 }, async () => {
    const answer = await whileHealthPolled(url(), () =>
      postInThread(`${url()}/generate`, { textOf: 200 * 1024 * 1024 }),
    );
    expect(answer.status).toBe(413);
    expect(answer.body.message).toBe(
      'body: 209715211 bytes, more than the 67108864 bytes POST /generate takes',
    );
    expect(answer.seconds).toBeLessThan(20);
  });

  it('refuses n 1024 with top_logprobs_num 64 at once (400), naming the fields', async () => {
    const started = performance.now();
    const res = await post(`${url()}/generate`, {
      text: 'Hi',
      sampling_params: { n: 1024 },
      return_logprob: true,
      top_logprobs_num: 64,
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as Answer['body']).message).toMatch(
      /reply would hold up to 8650752 entries.*top_logprobs_num/,
    );
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('refuses a request longer than the whole KV pool with a 400 saying why', async () => {
    const res = await post(`${url()}/generate`, {
      input_ids: Array.from({ length: 200 }, (_, i) => i % 256),
      sampling_params: { max_new_tokens: 8 },
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as Answer['body']).message).toBe(
      "prompt (200 tokens) + max_new_tokens (8) need 13 KV pages of 16 tokens, more than rank 0's whole KV pool (8 pages, 128 tokens): shorten the prompt or max_new_tokens, or give the KV cache more memory",
    );
    const fits = await post(`${url()}/generate`, {
      input_ids: Array.from({ length: 100 }, (_, i) => i % 256),
      sampling_params: { max_new_tokens: 8 },
    });
    expect(fits.status).toBe(200);
  });
});

describe('long prompts with the Llama 3 tokenizer (tokenized off the main thread)', () => {
  let llama: Served | undefined;
  beforeAll(async () => {
    // The fixture's weights with Llama 3's tokenizer beside them: only text goes through it here.
    const dir = mkdtempSync(join(tmpdir(), 'ts-llama3-tok-'));
    for (const file of ['config.json', 'model.safetensors'])
      symlinkSync(join(FIXTURES, 'llama', file), join(dir, file));
    for (const file of ['tokenizer.json', 'tokenizer_config.json'])
      symlinkSync(join(lenmlModelDir('llama3'), file), join(dir, file));
    llama = await serve(dir, { maxContext: 8192, numPages: 16 });
    // A text over 32 KiB goes to the tokenizer thread: this waits until its copy has loaded.
    expect((await post(`${llama.url}/tokenize`, { prompt: 'a'.repeat(40_000) })).status).toBe(200);
  }, 30_000);
  afterAll(() => close(llama));
  const url = () => (llama as Served).url;
  // 524,288 characters (~131k tokens): up to 8192 × 128 (its longest token) may fit, so it is
  // tokenized; on the main thread that took ~300 ms here.
  const text = 'Once upon a time, in a land far away, there lived a small cat. '.repeat(8192);

  let tokenized: number[] = [];

  it('tokenizes a long valid text while /health answers within 100 ms', async () => {
    const answer = await quietestOf(3, url(), () =>
      postInThread(`${url()}/tokenize`, { json: JSON.stringify({ prompt: text }) }),
    );
    expect(answer.status).toBe(200);
    tokenized = answer.body.tokens ?? [];
    expect(tokenized.length).toBeGreaterThan(8192);
    expect(answer.excessMs).toBeLessThan(100);
  }, 30_000);

  it('refuses a long prompt beyond the context after tokenizing it off the main thread', async () => {
    const answer = await quietestOf(3, url(), () =>
      postInThread(`${url()}/generate`, {
        json: JSON.stringify({ text, sampling_params: { n: 4 } }),
      }),
    );
    expect(answer.status).toBe(400);
    expect(answer.body.message).toBe(
      `prompt (${tokenized.length} tokens) + max_new_tokens (128) exceeds the context length 8192`,
    );
    expect(answer.excessMs).toBeLessThan(100);
    const over = await post(`${url()}/generate`, { text: 'a'.repeat(8192 * 128 + 1) });
    expect(over.status).toBe(413);
  }, 30_000);

  it("gives the ids of the model's tokenizer on the whole text, as encoded here", async () => {
    const here = await loadHfTokenizer(lenmlModelDir('llama3'));
    expect(tokenized).toEqual(here.encode(text));
  }, 30_000);
});
