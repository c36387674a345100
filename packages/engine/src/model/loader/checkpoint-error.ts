const MARKER = Symbol.for('@ts/engine.CheckpointError');

/**
 * A checkpoint, config or tokenizer file that cannot be used as it is: missing, truncated,
 * malformed, or describing something this engine does not run. The message names the file
 * and what is wrong with it. `isInstance` works across duplicate installs of the package.
 */
export class CheckpointError extends Error {
  readonly [MARKER] = true;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CheckpointError';
  }

  static isInstance(error: unknown): error is CheckpointError {
    return typeof error === 'object' && error !== null && MARKER in error;
  }
}
