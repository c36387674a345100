import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServerProcess, startServer } from './server-process.js';

let server: ServerProcess;
beforeAll(async () => {
  server = await startServer(['--model', 'builtin:tiny', '--context-length', '256']);
});
afterAll(async () => {
  expect(await server.stop()).toBe(0);
});

async function post(
  path: string,
  body: string,
): Promise<{ status: number; json: { success?: boolean; message?: string } }> {
  const response = await fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  });
  return {
    status: response.status,
    json: (await response.json()) as { success?: boolean; message?: string },
  };
}

describe('bad input over HTTP: a clear 4xx each time, and the server keeps serving', () => {
  it('answers malformed JSON, unknown and empty tags, wrong types and oversized prompts with 400', async () => {
    const cases: [string, string, RegExp][] = [
      ['/generate', '{"text": "hi", ', /json|JSON|body/],
      [
        '/release_memory_occupation',
        '{"tags": ["weights", "gpu"]}',
        /unknown tags: \[gpu\]; valid tags: \[weights, kv_cache, cuda_graph\]/,
      ],
      ['/release_memory_occupation', '{"tags": []}', /empty/],
      ['/resume_memory_occupation', '{"tags": ["kv_cache"]}', /tags not released: \[kv_cache\]/],
      ['/release_memory_occupation', '{"tags": "weights"}', /tags/],
      ['/generate', '{"text": 42}', /text/],
      ['/generate', '{"input_ids": [1, "x"]}', /input_ids/],
      ['/generate', '{"text": "hi", "sampling_params": {"max_new_tokens": -1}}', /max_new_tokens/],
      ['/pause_generation', '{"mode": "sideways"}', /mode/],
    ];
    for (const [path, body, message] of cases) {
      const { status, json } = await post(path, body);
      expect(status, `${path} ${body.slice(0, 40)}`).toBe(400);
      expect(json.message, `${path} ${body.slice(0, 40)}`).toMatch(message);
    }
    // A prompt past the context is too large: 413, at once.
    const long = await post('/generate', JSON.stringify({ text: 'x'.repeat(400) }));
    expect(long.status).toBe(413);
    expect(long.json.message).toMatch(/cannot fit the context of 256 tokens/);
    const ok = await post(
      '/generate',
      '{"text": "still here", "sampling_params": {"max_new_tokens": 4}}',
    );
    expect(ok.status).toBe(200);
  });

  it('survives a storm of concurrent releases and resumes: each answers, the state stays whole', async () => {
    const calls = Array.from({ length: 40 }, (_, i) =>
      post(i % 2 === 0 ? '/release_memory_occupation' : '/resume_memory_occupation', '{}'),
    );
    const generating = post(
      '/generate',
      '{"text": "storm", "sampling_params": {"max_new_tokens": 8}}',
    );
    const replies = await Promise.all(calls);
    for (const { status, json } of replies) {
      expect([200, 400]).toContain(status);
      expect(typeof json.message).toBe('string');
    }
    await post('/resume_memory_occupation', '{}');
    const sleeping = (await (await fetch(`${server.url}/is_sleeping`)).json()) as {
      is_sleeping: boolean;
    };
    expect(sleeping.is_sleeping).toBe(false);
    expect((await generating).status).toBe(200);
    const after = await post(
      '/generate',
      '{"text": "after", "sampling_params": {"max_new_tokens": 4}}',
    );
    expect(after.status).toBe(200);
  });
});
