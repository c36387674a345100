import { describe, expect, it } from 'vitest';
import { readSseData } from './sse-reader.js';

function body(chunks: string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const c of chunks) controller.enqueue(encoder.encode(c));
      controller.close();
    },
  });
}

async function all(chunks: string[]): Promise<string[]> {
  const out: string[] = [];
  for await (const data of readSseData(body(chunks))) out.push(data);
  return out;
}

describe('readSseData', () => {
  it('yields each event, whatever the chunking and line endings', async () => {
    const text =
      'data: {"a":1}\n\n: comment\nevent: x\ndata:b1\r\ndata: b2\r\n\r\ndata: [DONE]\n\n';
    const expected = ['{"a":1}', 'b1\nb2', '[DONE]'];
    expect(await all([text])).toEqual(expected);
    expect(await all(text.split(''))).toEqual(expected);
    expect(await all(['data: x\r', '\n\r', '\ndata: y\r\r'])).toEqual(['x', 'y']);
  });

  it('splits UTF-8 characters across chunks correctly and flushes an unterminated event', async () => {
    const bytes = new TextEncoder().encode('data: héllo wörld\n\ndata: end');
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const b of bytes) controller.enqueue(new Uint8Array([b]));
        controller.close();
      },
    });
    const out: string[] = [];
    for await (const data of readSseData(stream)) out.push(data);
    expect(out).toEqual(['héllo wörld', 'end']);
  });

  it('cancels the body when the reader stops early', async () => {
    let cancelled = false;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.enqueue(new TextEncoder().encode('data: 1\n\n'));
      },
      cancel() {
        cancelled = true;
      },
    });
    for await (const data of readSseData(stream)) {
      expect(data).toBe('1');
      break;
    }
    expect(cancelled).toBe(true);
  });
});
