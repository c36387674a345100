/** The SGLang control calls every framework makes alike, each raising for its status. */
import { expect } from 'vitest';
import { getUntil200, ok, post, postOk, type Reply } from './wire.js';

/** `POST /abort_request {abort_all: true}`: every request in flight ends with what it had. */
export async function abortAll(base: string): Promise<void> {
  await postOk(base, '/abort_request', { abort_all: true });
}

/** GET /flush_cache until 200, up to 60 tries (SGLangEngine.flush_cache in slime, miles, verl). */
export async function flushCache(base: string): Promise<void> {
  await getUntil200(base, '/flush_cache', { tries: 60 });
}

/** `POST /release_memory_occupation`: `{tags}`, or `{}` (every tag) when none are named. */
export function releaseMemory(base: string, tags?: string[]): Promise<Reply> {
  return postOk(base, '/release_memory_occupation', tags ? { tags } : {});
}

/** `POST /resume_memory_occupation {tags}`. */
export function resumeMemory(base: string, tags: string[]): Promise<Reply> {
  return postOk(base, '/resume_memory_occupation', { tags }, `resume ${tags.join(', ')}`);
}

/** `POST /update_weights_from_disk`: a 2xx with `success: true`. */
export async function updateWeightsFromDisk(
  base: string,
  body: { model_path: string; [field: string]: unknown },
  what = 'POST /update_weights_from_disk',
): Promise<Reply> {
  const updated = ok(await post(base, '/update_weights_from_disk', body), what);
  expect(updated.json.success).toBe(true);
  return updated;
}
