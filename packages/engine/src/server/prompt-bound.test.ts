import { describe, expect, it } from 'vitest';
import { type PromptBound, promptTooLong } from './prompt-bound.js';

const bound: PromptBound = { fields: ['text', 'messages'], maxContext: 4, perToken: 2 };

describe('promptTooLong (a string under a prompt field longer than maxContext × perToken)', () => {
  it('lets texts up to the bound through, and fields not named whatever their length', () => {
    expect(promptTooLong({ text: 'a'.repeat(8), rid: 'r'.repeat(100) }, bound)).toBeNull();
    expect(promptTooLong({ text: ['abc', 'a'.repeat(8)], input_ids: [1, 2] }, bound)).toBeNull();
    expect(promptTooLong('a'.repeat(100), bound)).toBeNull();
    expect(promptTooLong(null, bound)).toBeNull();
  });

  it('refuses 413 naming the first string too long by its path', () => {
    const one = promptTooLong({ text: 'a'.repeat(9) }, bound);
    expect(one?.statusCode).toBe(413);
    expect(one?.message).toBe(
      'text: 9 characters cannot fit the context of 4 tokens (a token of this tokenizer stands for at most 2 characters, so at most 8 fit)',
    );
    expect(promptTooLong({ text: ['ok', 'a'.repeat(9), 'b'.repeat(10)] }, bound)?.message).toMatch(
      /^text\[1\]: 9 characters/,
    );
    const chat = {
      messages: [{ role: 'user', content: [{ type: 'text', text: 'a'.repeat(12) }] }],
    };
    expect(promptTooLong(chat, bound)?.message).toMatch(/^messages\[0\]\.content\[0\]\.text: 12/);
  });

  it('walks a body nested 100,000 deep without overflowing the stack', () => {
    let deep: unknown = 'a'.repeat(9);
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(promptTooLong({ text: deep }, bound)?.statusCode).toBe(413);
  });
});
