/** The `data:` payloads of an SSE body, in order; throws on anything that is not one. */
export function sseData(payload: string): string[] {
  if (!payload.endsWith('\n\n')) throw new Error(`SSE body not terminated: ${payload}`);
  return payload
    .split('\n\n')
    .filter((event) => event !== '')
    .map((event) => {
      if (!event.startsWith('data: ')) throw new Error(`not a data event: ${event}`);
      return event.slice(6);
    });
}
