import type { FastifyInstance, InjectOptions } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Engine } from '../engine/engine.js';
import { encodeSafetensors, testTensor } from '../model/loader/loader.test-helpers.js';
import { createServer } from './create-server.js';
import { launchTiny, recordCalls, tinyCheckpoint } from './tiny-engine.test-helpers.js';

// The control routes against the real engine on builtin:tiny, one engine for the file; each
// test gets its own server, and afterEach puts back what a test changed.
let real: Engine;
let checkpoint: string;
beforeAll(async () => {
  [real, checkpoint] = await Promise.all([launchTiny(), tinyCheckpoint()]);
});
afterAll(() => real?.shutdown());

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  vi.restoreAllMocks();
  if ((await real.isSleeping()).isSleeping) await real.resumeMemoryOccupation();
  await real.continueGeneration();
  await real.endWeightUpdate();
  await real.updateWeightVersion({ newVersion: 'default' });
});

const CALLS = [
  'generate',
  'releaseMemoryOccupation',
  'resumeMemoryOccupation',
  'pauseGeneration',
  'continueGeneration',
  'flushCache',
  'updateWeightsFromDisk',
  'updateWeightsFromTensors',
  'updateWeightVersion',
  'beginWeightUpdate',
  'endWeightUpdate',
  'abortRequest',
  'abortAllRequests',
] as const;

function serve(adminKey?: string) {
  const engine = { calls: recordCalls(real, CALLS) };
  app = createServer(real, { adminKey });
  const inject = (method: 'GET' | 'POST', url: string, payload?: unknown, headers = {}) =>
    (app as FastifyInstance).inject({ method, url, payload, headers } as InjectOptions);
  return { engine, inject };
}

describe('memory routes', () => {
  it('releases and resumes by tag, with SGLang bodies and snake_case replies', async () => {
    const { engine, inject } = serve();
    const release = await inject('POST', '/release_memory_occupation', { tags: ['weights'] });
    expect(release.statusCode).toBe(200);
    // The controller's ReleaseReply, snake-cased: every field of it.
    expect(release.json()).toEqual({
      success: true,
      message: 'released [weights]',
      released_tags: ['weights'],
      freed_bytes: expect.any(Number),
      duration_ms: expect.any(Number),
    });
    expect(release.json().freed_bytes).toBeGreaterThan(0);
    const sleeping = await inject('GET', '/is_sleeping');
    expect(sleeping.json()).toEqual({
      success: true,
      message: 'released: [weights]',
      is_sleeping: true,
      released_tags: ['weights'],
      resident_bytes: { weights: 0, kv_cache: expect.any(Number), cuda_graph: expect.any(Number) },
    });
    const resume = await inject('POST', '/resume_memory_occupation', { tags: null });
    expect(resume.json()).toEqual({
      success: true,
      message: expect.any(String),
      released_tags: [],
      resumed_tags: ['weights'],
      repaired_pools: [],
      duration_ms: expect.any(Number),
    });
    expect(engine.calls).toEqual([
      ['releaseMemoryOccupation', { tags: ['weights'] }],
      ['resumeMemoryOccupation', {}],
    ]);
    expect((await inject('GET', '/is_sleeping')).json().is_sleeping).toBe(false);
  });

  it('reads no body, an empty body and {} as tags omitted', async () => {
    const { engine, inject } = serve();
    expect((await inject('POST', '/release_memory_occupation')).statusCode).toBe(200);
    const empty = await inject('POST', '/resume_memory_occupation', '', {
      'content-type': 'application/json',
    });
    expect(empty.statusCode).toBe(200);
    expect((await inject('POST', '/release_memory_occupation', {})).statusCode).toBe(200);
    expect(engine.calls.map(([, input]) => input)).toEqual([{}, {}, {}]);
  });

  it("answers the engine's failures as 400 { success: false, message }", async () => {
    const { inject } = serve();
    const resume = await inject('POST', '/resume_memory_occupation', { tags: ['kv_cache'] });
    expect(resume.statusCode).toBe(400);
    expect(resume.json()).toEqual({
      success: false,
      message: 'tags not released: [kv_cache]',
      released_tags: [],
      resumed_tags: [],
      repaired_pools: [],
      duration_ms: expect.any(Number),
    });
    const empty = await inject('POST', '/release_memory_occupation', { tags: [] });
    expect(empty.statusCode).toBe(400);
    expect(empty.json()).toEqual({
      success: false,
      message:
        'tags is empty: omit it to mean every tag; valid tags: [weights, kv_cache, cuda_graph]',
      released_tags: [],
      freed_bytes: 0,
      duration_ms: expect.any(Number),
    });
    const unknown = await inject('POST', '/release_memory_occupation', { tags: ['gpu'] });
    expect(unknown.json().message).toBe(
      'unknown tags: [gpu]; valid tags: [weights, kv_cache, cuda_graph]',
    );
    await inject('POST', '/release_memory_occupation', { tags: ['kv_cache'] });
    const again = await inject('POST', '/release_memory_occupation', { tags: ['kv_cache'] });
    expect(again.statusCode).toBe(400);
    expect(again.json()).toEqual({
      success: false,
      message: 'tags already released: [kv_cache]',
      released_tags: ['kv_cache'],
      freed_bytes: 0,
      duration_ms: expect.any(Number),
    });
  });

  it.each([
    [{ tags: 'weights' }, 'tags: Invalid input: expected array, received string'],
    [{ tags: [1] }, 'tags[0]: Invalid input: expected string, received number'],
    ['"weights"', 'body: Invalid input: expected object, received string'],
  ])('answers 400 for a bad body %j', async (payload, message) => {
    const { engine, inject } = serve();
    const res = await inject('POST', '/release_memory_occupation', payload, {
      'content-type': 'application/json',
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ success: false, message });
    expect(engine.calls).toEqual([]);
  });
});

describe('control routes', () => {
  it('pauses (abort by default), continues, flushes, updates weights, aborts', async () => {
    const { engine, inject } = serve();
    expect((await inject('POST', '/pause_generation')).json()).toEqual({
      success: true,
      message: 'paused (abort)',
      status: 'ok',
    });
    await inject('POST', '/pause_generation', { mode: 'keep' });
    expect((await inject('POST', '/continue_generation')).statusCode).toBe(200);
    expect((await inject('POST', '/flush_cache')).json()).toEqual({
      success: true,
      message: 'flushed 0 cached pages',
      freed_pages: 0,
    });
    expect((await inject('GET', '/flush_cache')).statusCode).toBe(200);
    const update = await inject('POST', '/update_weights_from_disk', { model_path: checkpoint });
    expect(update.json()).toEqual({
      success: true,
      message: `weights updated from ${checkpoint}; prefix cache reset (0 pages forgotten)`,
      num_paused_requests: 0,
    });
    // AReaL: abort_all_requests first; SGLang's other fields where this engine does the same.
    const aborting = await inject('POST', '/update_weights_from_disk', {
      model_path: checkpoint,
      abort_all_requests: true,
      load_format: 'auto',
      flush_cache: true,
    });
    expect(aborting.json()).toMatchObject({ success: true, num_paused_requests: 0 });
    const pt = await inject('POST', '/update_weights_from_disk', {
      model_path: '/ckpt/3',
      load_format: 'pt',
    });
    expect(pt.statusCode).toBe(400);
    expect(pt.json().message).toBe("load_format: must be 'auto' or 'safetensors'");
    // miles: a weight-update session around its update calls.
    expect((await inject('POST', '/begin_weight_update', { selector: 'all' })).statusCode).toBe(
      200,
    );
    expect((await inject('POST', '/begin_weight_update', {})).statusCode).toBe(400);
    expect((await inject('POST', '/end_weight_update', {})).statusCode).toBe(200);
    expect((await inject('POST', '/end_weight_update', {})).statusCode).toBe(400);
    expect((await inject('POST', '/begin_weight_update', { selector: 3 })).json().message).toBe(
      "selector: must be 'all' or a list of names",
    );
    // ROLL sends every abort to every worker: a rid this server does not hold is a 200.
    const abort = await inject('POST', '/abort_request', { rid: 'nobody' });
    expect(abort.statusCode).toBe(200);
    expect(abort.json()).toEqual({
      success: true,
      message: 'no request nobody in flight: nothing aborted',
    });
    // verl: an empty rid with abort_all.
    const all = await inject('POST', '/abort_request', { rid: '', abort_all: true });
    expect(all.statusCode).toBe(200);
    expect(all.json()).toEqual({
      success: true,
      message: 'aborting 0 requests',
      aborted_requests: 0,
    });
    for (const mode of ['in_place', 'retract']) {
      expect((await inject('POST', '/pause_generation', { mode })).statusCode).toBe(200);
    }
    expect(engine.calls).toEqual([
      ['pauseGeneration', { mode: 'abort' }],
      ['pauseGeneration', { mode: 'keep' }],
      ['continueGeneration', undefined],
      ['flushCache', undefined],
      ['flushCache', undefined],
      ['updateWeightsFromDisk', { modelPath: checkpoint }],
      ['abortAllRequests', undefined],
      ['updateWeightsFromDisk', { modelPath: checkpoint }],
      ['beginWeightUpdate', undefined],
      ['beginWeightUpdate', undefined],
      ['endWeightUpdate', undefined],
      ['endWeightUpdate', undefined],
      ['abortRequest', 'nobody'],
      ['abortAllRequests', undefined],
      ['pauseGeneration', { mode: 'in_place' }],
      ['pauseGeneration', { mode: 'retract' }],
    ]);
  });

  it('answers failures and bad bodies with 400 and a message', async () => {
    const { inject } = serve();
    const mode = await inject('POST', '/pause_generation', { mode: 'later' });
    expect(mode.statusCode).toBe(400);
    expect(mode.json()).toEqual({
      success: false,
      message: "mode: must be one of 'abort', 'wait', 'keep', 'in_place', 'retract'",
    });
    const version = await inject('POST', '/update_weight_version', { new_version: 3 });
    expect(version.statusCode).toBe(400);
    expect(version.json().message).toBe('new_version: a version (non-empty string) is required');
    const path = await inject('POST', '/update_weights_from_disk', {});
    expect(path.json().message).toBe('model_path: a checkpoint path (string) is required');
    expect((await inject('POST', '/update_weights_from_disk')).json().message).toBe(
      'body: expected an object with model_path',
    );
    const missing = await inject('POST', '/update_weights_from_disk', { model_path: '/missing/x' });
    expect(missing.statusCode).toBe(400);
    expect(missing.json()).toEqual({
      success: false,
      message:
        'update_weights_from_disk(/missing/x) failed, the old weights stay: /missing/x: checkpoint does not exist',
      num_paused_requests: 0,
    });
    expect((await inject('POST', '/abort_request', { rid: 3 })).json().message).toBe(
      'rid: a request id (string) is required',
    );
    expect((await inject('POST', '/abort_request', {})).json().message).toBe(
      'body: give a request id (rid), or abort_all: true',
    );
  });
});

describe('weight versions', () => {
  it('takes weight_version with either update, reports it, and stamps generate replies', async () => {
    const { engine, inject } = serve();
    expect((await inject('GET', '/get_weight_version')).json()).toEqual({
      weight_version: 'default',
    });
    const disk = await inject('POST', '/update_weights_from_disk', {
      model_path: checkpoint,
      weight_version: 'step-7',
    });
    expect(disk.json().success).toBe(true);
    expect(engine.calls[0]).toEqual([
      'updateWeightsFromDisk',
      { modelPath: checkpoint, weightVersion: 'step-7' },
    ]);
    expect((await inject('GET', '/get_weight_version')).json().weight_version).toBe('step-7');
    const body = Buffer.from(
      encodeSafetensors([testTensor('model.norm.weight', [128], 'float32')]),
    );
    const pushed = await inject('POST', '/update_weights_from_tensor?weight_version=step-8', body, {
      'content-type': 'application/octet-stream',
    });
    expect(pushed.json().success).toBe(true);
    const generated = await inject('POST', '/generate', {
      text: 'x',
      sampling_params: { max_new_tokens: 2 },
    });
    expect(generated.json().meta_info.weight_version).toBe('step-8');
    const empty = await inject('POST', '/update_weights_from_disk', {
      model_path: checkpoint,
      weight_version: '',
    });
    expect(empty.statusCode).toBe(400);
    expect(empty.json().message).toBe('weight_version: must be a non-empty string');
  });

  it('renames the weights with /update_weight_version and reports them in /model_info', async () => {
    const { engine, inject } = serve();
    expect((await inject('GET', '/model_info')).json().weight_version).toBe('default');
    const renamed = await inject('POST', '/update_weight_version', {
      new_version: 'v2',
      abort_all_requests: false,
    });
    expect(renamed.json()).toEqual({
      success: true,
      message: 'weight version is v2',
      new_version: 'v2',
    });
    expect(engine.calls).toEqual([
      ['updateWeightVersion', { newVersion: 'v2', abortAllRequests: false }],
    ]);
    expect((await inject('GET', '/get_model_info')).json().weight_version).toBe('v2');
    expect((await inject('GET', '/get_weight_version')).json().weight_version).toBe('v2');
  });
});

describe('health_generate', () => {
  it('answers 200 when a token comes, and 503 at once while a tag is released', async () => {
    const { engine, inject } = serve();
    const awake = await inject('GET', '/health_generate');
    expect(awake.statusCode).toBe(200);
    expect(engine.calls[0]?.[0]).toBe('generate');
    expect(engine.calls[0]?.[1]).toMatchObject({
      inputIds: [0],
      samplingParams: { maxNewTokens: 1 },
    });
    await inject('POST', '/release_memory_occupation', { tags: ['kv_cache'] });
    const asleep = await inject('GET', '/health_generate');
    expect(asleep.statusCode).toBe(503);
    expect(asleep.json()).toEqual({ success: false, message: 'sleeping: released [kv_cache]' });
    expect(engine.calls.filter(([call]) => call === 'generate')).toHaveLength(1);
  });
});

describe('update_weights_from_tensor', () => {
  const octet = { 'content-type': 'application/octet-stream' };

  it('takes the tensors as one safetensors body and hands them to the engine', async () => {
    const { engine, inject } = serve();
    const norm = testTensor('model.norm.weight', [128], 'bfloat16', 3);
    const body = Buffer.from(encodeSafetensors([norm]));
    const res = await inject('POST', '/update_weights_from_tensor', body, octet);
    expect(res.json()).toEqual({
      success: true,
      message: '1 tensors updated; prefix cache reset (0 pages forgotten)',
      duration_ms: expect.any(Number),
    });
    const [[call, input]] = engine.calls as [[string, { tensors: NamedTensorLike[] }]];
    expect(call).toBe('updateWeightsFromTensors');
    expect(input.tensors.map(({ name, dtype, shape }) => ({ name, dtype, shape }))).toEqual([
      { name: 'model.norm.weight', dtype: 'bfloat16', shape: [128] },
    ]);
    expect(Buffer.from(input.tensors[0]?.data ?? [])).toEqual(Buffer.from(norm.data));
  });

  it('answers a JSON body of no pickle or bytes that are not safetensors with 400', async () => {
    const { engine, inject } = serve();
    const json = await inject('POST', '/update_weights_from_tensor', {
      serialized_named_tensors: ['gASV...'],
    });
    expect(json.statusCode).toBe(400);
    expect(json.json().message).toBe(
      'update_weights_from_tensor: serialized tensors: not base64 text',
    );
    const junk = await inject('POST', '/update_weights_from_tensor', Buffer.from('nope'), octet);
    expect(junk.statusCode).toBe(400);
    expect(junk.json().message).toBe(
      'update_weights_from_tensor: not a safetensors body the model takes: the body ends after 4 bytes, inside its header',
    );
    const stranger = Buffer.from(encodeSafetensors([testTensor('lm.head', [8], 'float32')]));
    const unknown = await inject('POST', '/update_weights_from_tensor', stranger, octet);
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json().message).toBe('tensors: the model has no parameter lm.head');
    expect(engine.calls).toEqual([]);
  });
});

interface NamedTensorLike {
  name: string;
  dtype: string;
  shape: number[];
  data: Uint8Array;
}

describe('admin key', () => {
  const control: Array<['GET' | 'POST', string, unknown]> = [
    ['POST', '/release_memory_occupation', {}],
    ['POST', '/resume_memory_occupation', {}],
    ['POST', '/pause_generation', {}],
    ['POST', '/continue_generation', undefined],
    ['POST', '/update_weights_from_disk', { model_path: '/x' }],
    ['POST', '/update_weights_from_tensor', { serialized_named_tensors: [] }],
    ['POST', '/flush_cache', undefined],
    ['GET', '/flush_cache', undefined],
    ['POST', '/abort_request', { rid: 'r' }],
  ];

  it('guards every control endpoint with 401 { success: false, message }', async () => {
    const { engine, inject } = serve('s3cret');
    for (const [method, url, body] of control) {
      for (const auth of [undefined, 'Bearer wrong', 'Basic s3cret', 'Bearer ']) {
        const res = await inject(method, url, body, auth ? { authorization: auth } : {});
        expect(res.statusCode, `${method} ${url} ${auth}`).toBe(401);
        expect(res.headers['www-authenticate']).toBe('Bearer');
        expect(res.json()).toEqual({
          success: false,
          message: 'admin key required: send Authorization: Bearer <key>',
        });
      }
    }
    expect(engine.calls).toEqual([]);
    for (const [method, url, body] of control) {
      const res = await inject(method, url, body, { authorization: 'bearer  s3cret' });
      expect(res.statusCode, `${method} ${url}`).not.toBe(401);
    }
  });

  it('leaves generation and info open', async () => {
    const { inject } = serve('s3cret');
    const generated = await inject('POST', '/generate', {
      text: 'a',
      sampling_params: { max_new_tokens: 2 },
    });
    expect(generated.statusCode).toBe(200);
    for (const url of [
      '/health',
      '/health_generate',
      '/model_info',
      '/is_sleeping',
      '/metrics',
      '/v1/models',
    ]) {
      expect((await inject('GET', url)).statusCode, url).toBe(200);
    }
  });
});
