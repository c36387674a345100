import { type PromptBound, promptTooLong } from './prompt-bound.js';

/** A JSON body's value, or why it is refused (400: not JSON; 413: a prompt too long). */
export type JsonParseOutcome = { value: unknown } | { status: 400 | 413; message: string };

/**
 * Parses a JSON body (UTF-8, in `blocks` one after another) and, with a prompt bound, refuses
 * one holding a prompt text that cannot fit the context; an empty or blank body is
 * `undefined`. The same here and in a parse thread (`json-parse-worker.ts`).
 */
export function parseJson(
  blocks: readonly Uint8Array[],
  prompt: PromptBound | null,
): JsonParseOutcome {
  const bytes = blocks.length === 1 ? (blocks[0] as Uint8Array) : Buffer.concat(blocks);
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  if (text.trim() === '') return { value: undefined };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { status: 400, message: `body: invalid JSON: ${(error as Error).message}` };
  }
  const refusal = prompt ? promptTooLong(value, prompt) : null;
  return refusal ? { status: 413, message: refusal.message } : { value };
}
