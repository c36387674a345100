/**
 * Reads Server-Sent Events from a fetch body and yields each event's `data` (its `data:`
 * lines joined by newlines). Other fields and comments are skipped. Returning early (a
 * `break` in `for await`) cancels the body, which closes the connection.
 */
export async function* readSseData(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let data: string[] = [];
  let done = false;
  try {
    while (!done) {
      const chunk = await reader.read();
      done = chunk.done;
      buffer += done ? decoder.decode() : decoder.decode(chunk.value, { stream: true });
      // A trailing '\r' may be half of '\r\n': keep it until more comes.
      const cut = done ? buffer.length : lastLineEnd(buffer);
      const lines = buffer.slice(0, cut).split(/\r\n|\r|\n/);
      buffer = buffer.slice(cut);
      if (!done) lines.pop(); // the empty string after the last line end
      for (const line of lines) {
        if (line === '') {
          if (data.length > 0) yield data.join('\n');
          data = [];
        } else if (line.startsWith('data:')) {
          data.push(line.slice(line.startsWith('data: ') ? 6 : 5));
        }
      }
    }
    if (data.length > 0) yield data.join('\n');
  } finally {
    if (!done) await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}

/** The index just past the last complete line ending in `text` (0 when there is none). */
function lastLineEnd(text: string): number {
  for (let i = text.length - 1; i >= 0; i--) {
    const c = text[i];
    if (c === '\n') return i + 1;
    if (c === '\r' && i < text.length - 1) return i + 1;
  }
  return 0;
}
