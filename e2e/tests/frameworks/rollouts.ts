/**
 * Rollouts long enough to be in flight when an abort, pause or release arrives, the reading of
 * their replies every framework shares, and the check that generation after a weight update
 * equals a fresh server started on the new checkpoint.
 */
import { expect } from 'vitest';
import { serve } from './server.js';
import { get, ok, post, type Reply, until } from './wire.js';

/** Long enough to be in flight when the control call arrives; short enough for 2 CI cores. */
export const ROLLOUT_TOKENS = 1200;
/** Prompts of the llama fixture (byte ids) whose greedy rollouts do not hit EOS early. */
export const PROMPTS = [
  [1, 5, 9, 33, 2],
  [1, 72, 101, 108, 108, 111],
  [1, 84, 104, 101, 32],
  [1, 40, 41, 42],
];

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

/**
 * One rollout per prompt, all at once, each `ROLLOUT_TOKENS` long; they are returned unsettled
 * once the server decodes them.
 */
export async function startRollouts(
  base: string,
  body: (prompt: number[], maxNewTokens: number, index: number) => unknown,
): Promise<Promise<Reply>[]> {
  const rollouts = PROMPTS.map((p, i) => post(base, '/generate', body(p, ROLLOUT_TOKENS, i)));
  await whileDecoding(base);
  return rollouts;
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

/** The rollouts' replies, each read as the frameworks read a `/generate` reply. */
export async function rolloutReplies(rollouts: Promise<Reply>[]): Promise<Reply[]> {
  const replies = await settle(rollouts);
  for (const r of replies) expectGenerateReply(r);
  return replies;
}

/** Each body to `/generate` at once: the replies, in order, read as the frameworks read them. */
export function generateAll(base: string, bodies: unknown[]): Promise<Reply[]> {
  return rolloutReplies(bodies.map((b) => post(base, '/generate', b)));
}

/** A rollout an abort cut short: its reply, the prompt it came from and what it had generated. */
export interface PartialRollout {
  reply: Reply;
  /** Its place in PROMPTS (and in the replies). */
  index: number;
  prompt: number[];
  output: number[];
  /** The prompt and the output so far: what a framework resends to finish it. */
  tokens: number[];
  /** What is left of its `ROLLOUT_TOKENS`: the `max_new_tokens` of the resend. */
  left: number;
}

/** The aborted rollouts of `replies` (in PROMPTS order): at least one, with some output. */
export function partials(replies: Reply[]): PartialRollout[] {
  const aborted = replies.filter((r) => r.json.meta_info.finish_reason.type === 'abort');
  expect(aborted.length, 'no rollout was in flight when the abort came').toBeGreaterThan(0);
  expect(aborted.some((r) => r.json.output_ids.length > 0)).toBe(true);
  return aborted.map((reply) => {
    const index = replies.indexOf(reply);
    const prompt = PROMPTS[index] as number[];
    const output: number[] = reply.json.output_ids;
    const tokens = [...prompt, ...output];
    return { reply, index, prompt, output, tokens, left: ROLLOUT_TOKENS - output.length };
  });
}

/** Rollouts an abort came into: every reply a `/generate` answer, and the partial ones. */
export async function settleAborted(
  rollouts: Promise<Reply>[],
): Promise<{ replies: Reply[]; partial: PartialRollout[] }> {
  const replies = await rolloutReplies(rollouts);
  return { replies, partial: partials(replies) };
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

/**
 * The partial rollouts' bodies resent to `base` (their replies read as the frameworks read
 * them), and the same bodies (`freshBodies` where the wire needs others) to a fresh server on
 * `checkpoint`: the output is the same, as if nothing had been cut short or updated.
 */
export async function resendAndCompareWithFresh(
  base: string,
  checkpoint: string,
  bodies: unknown[],
  freshBodies: unknown[] = bodies,
): Promise<Reply[]> {
  const resent = await generateAll(base, bodies);
  await expectSameAsFresh(checkpoint, freshBodies, resent);
  return resent;
}
