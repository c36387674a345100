import type { OpenAIErrorReply } from '@ts/client';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodType } from 'zod';

/** An error with the HTTP status it should answer; its message goes to the caller. */
export class RequestError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

interface Issue {
  code: string;
  path: PropertyKey[];
  message: string;
  errors?: Issue[][];
}

/** Parses with zod; a mismatch throws a 400 whose message names each bad field. */
export function parseBody<T>(schema: ZodType<T>, body: unknown): T {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const lines = (result.error.issues as Issue[]).flatMap((issue) => describe(issue, []));
  throw new RequestError(400, lines.join('; '));
}

function describe(issue: Issue, prefix: PropertyKey[]): string[] {
  const path = [...prefix, ...issue.path];
  if (issue.code === 'invalid_union' && issue.errors) {
    // The branch whose type the value has, if only one: its issues say more than the union's.
    const fitting = issue.errors.filter(
      (branch) => !branch.some((i) => i.path.length === 0 && i.code === 'invalid_type'),
    );
    if (fitting.length === 1 && fitting[0]) return fitting[0].flatMap((i) => describe(i, path));
  }
  return [`${formatPath(path)}: ${issue.message}`];
}

function formatPath(path: PropertyKey[]): string {
  if (path.length === 0) return 'body';
  return path
    .map((key, i) => (typeof key === 'number' ? `[${key}]` : `${i === 0 ? '' : '.'}${String(key)}`))
    .join('');
}

/** The status an error asks for: its own when it names a 4xx or 5xx, else `fallback`. */
export function statusOf(error: unknown, fallback: number): number {
  if (typeof error === 'object' && error !== null) {
    const { statusCode, status } = error as { statusCode?: unknown; status?: unknown };
    const code = typeof statusCode === 'number' ? statusCode : status;
    if (typeof code === 'number' && code >= 400 && code <= 599) return code;
  }
  return fallback;
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Wraps an engine rejection as a RequestError (a 400 unless it names its own status). */
export function asRequestError(error: unknown): RequestError {
  if (error instanceof RequestError) return error;
  return new RequestError(statusOf(error, 400), messageOf(error));
}

export function isOpenAIRoute(url: string): boolean {
  return url.startsWith('/v1/') || url === '/v1';
}

/** OpenAI's error body, which the `openai` package reads its message from. */
export function openAIError(status: number, message: string): OpenAIErrorReply {
  const type =
    status === 401
      ? 'authentication_error'
      : status === 404
        ? 'not_found_error'
        : 'invalid_request_error';
  return {
    error: { message, type: status >= 500 ? 'server_error' : type, param: null, code: status },
  };
}

/** Every error leaves as JSON: `{ success: false, message }`, or OpenAI's shape under /v1. */
export function sendError(
  request: FastifyRequest,
  reply: FastifyReply,
  status: number,
  message: string,
) {
  const body = isOpenAIRoute(request.url)
    ? openAIError(status, message)
    : { success: false, message };
  return reply.code(status).send(body);
}

export function errorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  const status = statusOf(error, 500);
  if (status >= 500) request.log.error({ err: error }, 'request failed');
  return sendError(request, reply, status, messageOf(error));
}
