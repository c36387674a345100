import { type PromptTooLongError, textTooLong } from '../engine/input-limits.js';

/** What bounds the prompt text of a route's body. */
export interface PromptBound {
  /** The body's top-level fields every string under which goes into the prompt. */
  fields: readonly string[];
  maxContext: number;
  /** The most text (UTF-16 units) one token of the tokenizer stands for. */
  perToken: number;
}

/**
 * The refusal (413) of a body that holds, under one of `bound.fields`, a string longer than
 * maxContext × perToken (it cannot fit the context, see `textTooLong`), or null. The first
 * such string is named by its path (`text`, `text[2]`, `messages[0].content`). The walk keeps
 * its own stack, so a body nested however deep cannot overflow the call stack.
 */
export function promptTooLong(body: unknown, bound: PromptBound): PromptTooLongError | null {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return null;
  const most = bound.maxContext * bound.perToken;
  const stack: { value: unknown; path: string }[] = [];
  for (const field of bound.fields)
    stack.push({ value: (body as Record<string, unknown>)[field], path: field });
  stack.reverse();
  while (stack.length > 0) {
    const { value, path } = stack.pop() as { value: unknown; path: string };
    if (typeof value === 'string') {
      if (value.length > most)
        return textTooLong(path, value.length, bound.maxContext, bound.perToken);
    } else if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) {
        const item: unknown = value[i];
        if (typeof item === 'string' || (typeof item === 'object' && item !== null))
          stack.push({ value: item, path: `${path}[${i}]` });
      }
    } else if (typeof value === 'object' && value !== null) {
      const entries = Object.entries(value);
      for (let i = entries.length - 1; i >= 0; i--) {
        const [key, item] = entries[i] as [string, unknown];
        stack.push({ value: item, path: `${path}.${key}` });
      }
    }
  }
  return null;
}
