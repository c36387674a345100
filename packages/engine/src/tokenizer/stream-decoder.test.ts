import { describe, expect, it } from 'vitest';
import { createWindowStreamDecoder } from './stream-decoder.js';

describe('createWindowStreamDecoder', () => {
  it('keeps only a short window of ids', () => {
    const seen: number[] = [];
    const stream = createWindowStreamDecoder((ids) => {
      seen.push(ids.length);
      return ids.map((id) => String.fromCharCode(97 + id)).join('');
    });
    const text = Array.from({ length: 100 }, (_, i) => stream.push(i % 26)).join('');
    expect(text).toBe('abcdefghijklmnopqrstuvwxyz'.repeat(4).slice(0, 100));
    expect(Math.max(...seen)).toBeLessThanOrEqual(2);
  });

  it('loses no text when a decode rewrites what was already emitted', () => {
    // A decode that removes " ." as clean_up_tokenization_spaces does: the space is out already.
    const pieces = ['Hi', ' ', '.', '!'];
    const stream = createWindowStreamDecoder((ids) =>
      ids
        .map((id) => pieces[id])
        .join('')
        .replace(' .', '.'),
    );
    expect([stream.push(0), stream.push(1), stream.push(2), stream.push(3)]).toEqual([
      'Hi',
      ' ',
      '',
      '.!',
    ]);
  });

  it('holds an incomplete character back, but emits bytes that can never complete one', () => {
    const bytes = (ids: readonly number[]) => new TextDecoder().decode(Uint8Array.from(ids));
    const seen: number[] = [];
    const stream = createWindowStreamDecoder((ids) => {
      seen.push(ids.length);
      return bytes(ids);
    });
    // é is 0xc3 0xa9: nothing comes out until its second byte.
    expect([stream.push(0xc3), stream.push(0xa9)]).toEqual(['', 'é']);
    // A lone continuation byte repeated is invalid for good: it comes out, and the window stays short.
    const garbage = Array.from({ length: 40 }, () => stream.push(0x93)).join('');
    expect(garbage.length + stream.flush().length).toBe(40);
    expect(garbage.length).toBeGreaterThan(0);
    expect(Math.max(...seen)).toBeLessThanOrEqual(16);
  });
});
