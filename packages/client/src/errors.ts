const MARKER = Symbol.for('@ts/client.EngineClientError');

/**
 * What the throwing calls (`generate*`, `modelInfo`, `listModels`, `metrics`) throw: the
 * server's own message, the HTTP status (undefined when no reply came) and the parsed body.
 * Control calls never throw; they answer `{ success: false, message }` instead.
 */
export class EngineClientError extends Error {
  override readonly name = 'EngineClientError';
  readonly [MARKER] = true;

  constructor(
    message: string,
    readonly status: number | undefined,
    readonly body?: unknown,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** True for an `EngineClientError` from any copy of this package. */
  static isInstance(value: unknown): value is EngineClientError {
    return (
      typeof value === 'object' &&
      value !== null &&
      (value as Record<symbol, unknown>)[MARKER] === true
    );
  }
}

/** The message a reply body carries: `message` (SGLang routes) or `error.message` (OpenAI). */
export function serverMessage(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const { message, error } = body as { message?: unknown; error?: unknown };
  if (typeof message === 'string') return message;
  if (typeof error === 'string') return error;
  if (typeof error === 'object' && error !== null) {
    const inner = (error as { message?: unknown }).message;
    if (typeof inner === 'string') return inner;
  }
  return undefined;
}
