/**
 * TS_STEP_TRACE=1 prints timed events to stderr, each with an absolute time in ms since the
 * epoch so that lines from the main thread and the rank workers can be put side by side.
 */
export const stepTraceOn = process.env.TS_STEP_TRACE === '1';

export function traceNow(): number {
  return performance.timeOrigin + performance.now();
}

export function stepTrace(event: string): void {
  if (stepTraceOn) console.error(`[${event} at ${traceNow().toFixed(2)}]`);
}
