// @module-tag cuda
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../engine/engine.js';
import { DEVICE } from '../model/runner.test-helpers.js';
import { createServer } from './create-server.js';

// Issue 14: every route of the real server under random bodies (the schemas' field names with
// values of any type, and raw bytes under any content type): never a 5xx, never a hang, a
// refused call changes nothing, and greedy output is the same afterwards.
const ROUTES: [method: 'GET' | 'POST', url: string][] = [
  ['POST', '/generate'],
  ['POST', '/v1/completions'],
  ['POST', '/v1/chat/completions'],
  ['POST', '/tokenize'],
  ['POST', '/detokenize'],
  ['POST', '/release_memory_occupation'],
  ['POST', '/resume_memory_occupation'],
  ['GET', '/is_sleeping'],
  ['POST', '/pause_generation'],
  ['POST', '/continue_generation'],
  ['POST', '/flush_cache'],
  ['POST', '/abort_request'],
  ['POST', '/update_weights_from_disk'],
  ['POST', '/update_weights_from_tensor'],
  ['POST', '/update_weight_version'],
  ['GET', '/get_weight_version'],
  ['GET', '/model_info'],
  ['GET', '/get_server_info'],
  ['GET', '/health'],
  ['GET', '/metrics'],
  ['GET', '/v1/loads'],
  ['GET', '/version'],
  ['GET', '/v1/models'],
];

const FIELDS = [
  'text',
  'input_ids',
  'sampling_params',
  'rid',
  'stream',
  'return_logprob',
  'logprob_start_len',
  'top_logprobs_num',
  'token_ids_logprob',
  'tags',
  'mode',
  'model_path',
  'weight_version',
  'new_version',
  'abort_all',
  'abort_all_requests',
  'prompt',
  'tokens',
  'messages',
  'model',
  'max_tokens',
  'n',
  'logprobs',
  'echo',
  'stop',
  'temperature',
  'data_parallel_rank',
];
const SAMPLING = [
  'max_new_tokens',
  'temperature',
  'top_p',
  'top_k',
  'n',
  'stop',
  'min_new_tokens',
  'logit_bias',
  'sampling_seed',
  'ignore_eos',
];

/** Values of every JSON type, numbers mostly small (a valid request stays cheap on the CPU). */
const value: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  leaf: fc.oneof(
    fc.integer({ min: -3, max: 8 }),
    fc.double({ noNaN: false }),
    fc.string({ maxLength: 12 }),
    fc.constantFrom('weights', 'kv_cache', 'cuda_graph', 'abort', 'retract', 'Hello', ''),
    fc.boolean(),
    fc.constant(null),
  ),
  any: fc.oneof(
    { depthSize: 'small' },
    tie('leaf'),
    fc.array(tie('leaf'), { maxLength: 4 }),
    fc.dictionary(fc.constantFrom(...SAMPLING), tie('leaf'), { maxKeys: 4 }),
  ),
})).any;

const jsonBody = fc
  .dictionary(fc.constantFrom(...FIELDS), value, { maxKeys: 5 })
  .map((body) => ({ payload: JSON.stringify(body), type: 'application/json' }));
const rawBody = fc.record({
  payload: fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
  type: fc.constantFrom(
    'application/json',
    'application/octet-stream',
    'text/plain',
    'application/x-www-form-urlencoded',
  ),
});
/** Prompts with sampling params of any value: many of them valid, so generation runs too. */
const prompts = fc
  .record({
    text: fc.constantFrom('Hello', 'x', 'Once upon'),
    sampling_params: fc.dictionary(fc.constantFrom(...SAMPLING), value, { maxKeys: 3 }),
    stream: fc.boolean(),
  })
  .map((body) => ({ payload: JSON.stringify(body), type: 'application/json' }));
const call = fc.oneof(
  fc.record({
    route: fc.constantFrom(...ROUTES),
    body: fc.oneof({ weight: 4, arbitrary: jsonBody }, { weight: 1, arbitrary: rawBody }),
  }),
  fc.record({
    route: fc.constantFrom<[method: 'POST', url: string]>(
      ['POST', '/generate'],
      ['POST', '/v1/completions'],
    ),
    body: prompts,
  }),
);

let engine: Engine;
let app: FastifyInstance;
beforeAll(async () => {
  engine = await Engine.launch({
    model: 'builtin:tiny',
    device: DEVICE,
    numPages: 256,
    maxContext: 256,
  });
  app = createServer(engine, { healthGenerateMs: 2000 });
});
afterAll(async () => {
  await app?.close();
  await engine?.shutdown();
});

const greedy = () =>
  app.inject({
    method: 'POST',
    url: '/generate',
    payload: { text: 'Once', sampling_params: { max_new_tokens: 12 } },
  });

async function state() {
  const sleep = (await app.inject({ url: '/is_sleeping' })).json();
  return { released: sleep.released_tags, version: engine.weightVersion() };
}

/** Puts back what a successful control call changed. */
async function restore() {
  const sleep = await engine.isSleeping();
  if (sleep.isSleeping) await engine.resumeMemoryOccupation();
  await engine.continueGeneration();
}

describe('fuzzing every route of the real server', () => {
  it('answers every call under 500, changes nothing on a refusal, and keeps greedy output', async () => {
    const before = (await greedy()).json().output_ids;
    await fc.assert(
      fc.asyncProperty(call, async ({ route: [method, url], body }) => {
        const was = await state();
        const res = await app.inject({
          method,
          url,
          ...(method === 'POST'
            ? { payload: body.payload, headers: { 'content-type': body.type } }
            : {}),
        });
        expect(
          res.statusCode,
          `${method} ${url} ${String(body.payload)}: ${res.body}`,
        ).toBeLessThan(500);
        if (res.statusCode >= 400) expect(await state()).toEqual(was);
        else await restore();
      }),
      { numRuns: 300, interruptAfterTimeLimit: 40_000, seed: 20261201 },
    );
    await restore();
    expect((await greedy()).json().output_ids).toEqual(before);
  }, 90_000);
});
