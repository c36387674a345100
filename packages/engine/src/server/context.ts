import type { FastifyReply, RouteShorthandOptions } from 'fastify';
import type { EngineApi } from '../engine-api.js';

/** What each route group is given. */
export interface RouteContext {
  engine: EngineApi;
  /** The name the OpenAI routes answer with. */
  modelName(): string;
  /** Route options that require the admin key (empty when no key is set). */
  admin: RouteShorthandOptions;
  /** How long `/health_generate` waits for its token. */
  healthGenerateMs: number;
  /** Where `update_weights_from_disk` may read checkpoints (anywhere when undefined). */
  checkpointDir: string | undefined;
}

/** A camelCase name in snake_case, as a type: `releasedTags` → `released_tags`. */
export type SnakeCase<S extends string> = S extends `${infer Head}${infer Tail}`
  ? `${Head extends Lowercase<Head> ? Head : `_${Lowercase<Head>}`}${SnakeCase<Tail>}`
  : S;

/** `T` with its keys snake-cased (one level deep), as `snakeKeys` sends it. */
export type SnakeKeys<T> = { [K in keyof T as K extends string ? SnakeCase<K> : K]: T[K] };

/** snake_case keys, one level deep: `releasedTags` → `released_tags`. */
export function snakeKeys<T extends object>(value: T): SnakeKeys<T> {
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    out[key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)] = v;
  }
  return out as SnakeKeys<T>;
}

/** A control reply: 200 on success, 400 with `{ success: false, message }` on failure. */
export function sendControl<T extends { success: boolean; message: string }>(
  reply: FastifyReply,
  result: T,
) {
  return reply.code(result.success ? 200 : 400).send(snakeKeys(result));
}
