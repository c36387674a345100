import { CheckpointError } from './checkpoint-error.js';

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Typed reads of a JSON object's fields; every failure names the source and the field. */
export class ConfigFields {
  constructor(
    readonly raw: Readonly<Record<string, unknown>>,
    readonly source: string,
  ) {}

  fail(message: string): never {
    throw new CheckpointError(`${this.source}: ${message}`);
  }

  has(key: string): boolean {
    return this.raw[key] !== undefined && this.raw[key] !== null;
  }

  private required(key: string): unknown {
    if (!this.has(key)) this.fail(`missing required field "${key}"`);
    return this.raw[key];
  }

  private wrong(key: string, what: string): never {
    return this.fail(`field "${key}" must be ${what}, got ${JSON.stringify(this.raw[key])}`);
  }

  positiveInt(key: string): number {
    const value = this.required(key);
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
      return this.wrong(key, 'a positive integer');
    }
    return value;
  }

  positiveIntOr(key: string, fallback: number): number {
    return this.has(key) ? this.positiveInt(key) : fallback;
  }

  positiveNumber(key: string): number {
    const value = this.required(key);
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
      return this.wrong(key, 'a positive number');
    }
    return value;
  }

  positiveNumberOr(key: string, fallback: number): number {
    return this.has(key) ? this.positiveNumber(key) : fallback;
  }

  booleanOr(key: string, fallback: boolean): boolean {
    if (!this.has(key)) return fallback;
    const value = this.raw[key];
    return typeof value === 'boolean' ? value : this.wrong(key, 'true or false');
  }

  stringOr(key: string, fallback: string | null): string | null {
    if (!this.has(key)) return fallback;
    const value = this.raw[key];
    return typeof value === 'string' ? value : this.wrong(key, 'a string');
  }

  /** A token id or a list of them; absent or null reads as an empty list. */
  tokenIds(key: string): number[] {
    if (!this.has(key)) return [];
    const value = this.raw[key];
    const list = Array.isArray(value) ? value : [value];
    const isId = (id: unknown) => typeof id === 'number' && Number.isSafeInteger(id) && id >= 0;
    return list.every(isId) ? (list as number[]) : this.wrong(key, 'a token id or a list of them');
  }

  /** A nested object, or null when absent. */
  objectOr(key: string): ConfigFields | null {
    if (!this.has(key)) return null;
    const value = this.raw[key];
    return isRecord(value)
      ? new ConfigFields(value, `${this.source} ${key}`)
      : this.wrong(key, 'an object');
  }
}
