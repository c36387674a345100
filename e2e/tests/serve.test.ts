// @module-tag cuda
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { EngineClient, type ServerInfoReply } from '@ts/client';
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { LLAMA, secondCheckpoint } from './checkpoints.js';
import { type ServerProcess, startServer } from './server-process.js';

const servers: ServerProcess[] = [];
async function serve(args: string[]): Promise<{ server: ServerProcess; client: EngineClient }> {
  const server = await startServer(args);
  servers.push(server);
  return { server, client: new EngineClient({ baseUrl: server.url }) };
}
afterEach(async () => {
  const codes = await Promise.all(servers.splice(0).map((s) => s.stop()));
  expect(codes.every((c) => c === 0)).toBe(true);
});

describe('ts-engine serve, driven over HTTP', () => {
  it('serves builtin:tiny to the official openai package: completions, streamed and not', async () => {
    const { server, client } = await serve(['--model', 'builtin:tiny']);
    const openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused' });
    expect((await openai.models.list()).data[0]?.id).toBe('builtin:tiny');
    const completion = await openai.completions.create({
      model: 'builtin:tiny',
      prompt: 'Hello',
      max_tokens: 8,
      temperature: 0,
    });
    expect(completion.usage?.completion_tokens).toBe(8);
    const withLogprobs = await openai.completions.create({
      model: 'builtin:tiny',
      prompt: 'Hello',
      max_tokens: 8,
      temperature: 0,
      logprobs: 0,
    });
    expect(withLogprobs.choices[0]?.text).toBe(completion.choices[0]?.text);
    const group = await openai.completions.create({
      model: 'builtin:tiny',
      prompt: 'Hello',
      max_tokens: 12,
      temperature: 1.2,
      n: 4,
    });
    expect(group.choices.map((c) => c.index)).toEqual([0, 1, 2, 3]);
    const twoPrompts = await openai.completions.create({
      model: 'builtin:tiny',
      prompt: ['Hello', 'Hi'],
      max_tokens: 8,
      temperature: 0,
    });
    expect(twoPrompts.choices.map((c) => c.text)).toEqual([
      completion.choices[0]?.text,
      expect.any(String),
    ]);
    // Each choice draws its own seed: a GRPO group is not four copies of one sample.
    expect(new Set(group.choices.map((c) => c.text)).size).toBeGreaterThan(1);
    // lm-eval-harness's loglikelihood request: token ids, echo, no new tokens, logprobs.
    const ids = [256, ...Buffer.from('The fox')];
    const scored = await openai.completions.create({
      model: 'builtin:tiny',
      prompt: [ids],
      echo: true,
      max_tokens: 0,
      logprobs: 1,
      temperature: 0,
    });
    const scoredLogprobs = scored.choices[0]?.logprobs;
    expect(scoredLogprobs?.token_logprobs).toHaveLength(ids.length);
    expect(scoredLogprobs?.token_logprobs?.[0]).toBeNull();
    expect(scoredLogprobs?.token_logprobs?.slice(1).every((l) => (l as number) < 0)).toBe(true);
    expect(scored.usage?.completion_tokens).toBe(0);
    const logprobs = withLogprobs.choices[0]?.logprobs;
    expect(logprobs?.token_logprobs).toHaveLength(8);
    expect(logprobs?.token_logprobs?.every((l) => l <= 0)).toBe(true);
    let streamed = '';
    const stream = await openai.completions.create({
      model: 'builtin:tiny',
      prompt: 'Hello',
      max_tokens: 8,
      temperature: 0,
      stream: true,
    });
    for await (const chunk of stream) streamed += chunk.choices[0]?.text ?? '';
    expect(streamed).toBe(completion.choices[0]?.text);
    const native = await client.generate({
      text: 'Hello',
      sampling_params: { max_new_tokens: 8, temperature: 0 },
    });
    expect(native.text).toBe(completion.choices[0]?.text);
    expect((await client.health()).success).toBe(true);
    const info = (await (await fetch(`${server.url}/get_server_info`)).json()) as ServerInfoReply;
    const engine = JSON.parse(
      readFileSync(resolve(import.meta.dirname, '../../packages/engine/package.json'), 'utf8'),
    );
    expect(info).toMatchObject({ model_path: 'builtin:tiny', dp_size: 1, version: engine.version });
    expect(info.max_total_num_tokens).toBeGreaterThan(0);
  });

  for (const [dpSize, from] of [
    ['1', 'disk'],
    ['2', 'tensor'],
  ] as const) {
    it(`runs the RL loop (dp-size ${dpSize}, weights from ${from}): output after the update equals a fresh server on the new weights`, async () => {
      const second = secondCheckpoint();
      const request = {
        input_ids: [1, 5, 9, 33, 2],
        sampling_params: { max_new_tokens: 16, temperature: 0, ignore_eos: true },
        return_logprob: true,
        logprob_start_len: 1,
      };
      const { client } = await serve([
        '--model',
        LLAMA,
        '--page-size',
        '4',
        '--num-pages',
        '256',
        '--dp-size',
        dpSize,
      ]);
      const before = await client.generate(request);
      expect((await client.releaseMemoryOccupation()).success).toBe(true);
      expect(await client.isSleeping()).toMatchObject({ is_sleeping: true });
      expect((await client.resumeMemoryOccupation({ tags: ['weights'] })).success).toBe(true);
      const updated =
        from === 'disk'
          ? await client.updateWeightsFromDisk({ model_path: second })
          : await client.updateWeightsFromTensor(readFileSync(join(second, 'model.safetensors')));
      expect(updated.success, updated.message).toBe(true);
      expect(
        (await client.resumeMemoryOccupation({ tags: ['kv_cache', 'cuda_graph'] })).success,
      ).toBe(true);
      expect(await client.isSleeping()).toMatchObject({ is_sleeping: false });
      const after = await client.generate(request);
      expect(after.output_ids).not.toEqual(before.output_ids);
      const fresh = await serve(['--model', second, '--page-size', '4', '--num-pages', '256']);
      const reference = await fresh.client.generate(request);
      expect(reference.output_ids).toEqual(after.output_ids);
      // Each token's logprob too: the same weights give the same distribution.
      expect(after.meta_info.output_token_logprobs?.map(([, id]) => id)).toEqual(after.output_ids);
      expect(reference.meta_info.output_token_logprobs).toEqual(
        after.meta_info.output_token_logprobs,
      );
      expect(after.meta_info.input_token_logprobs?.map(([, id]) => id)).toEqual([5, 9, 33, 2]);
      expect(reference.meta_info.input_token_logprobs).toEqual(
        after.meta_info.input_token_logprobs,
      );
      expect(after.meta_info.input_token_logprobs).not.toEqual(
        before.meta_info.input_token_logprobs,
      );
    });
  }
});
