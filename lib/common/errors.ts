/**
 * Domain errors. Every error Corral raises on purpose is a CorralError with a stable `code`
 * (callers branch on it, never on message text), a message that names the field and the
 * reason, and an optional `cause`.
 */
export class CorralError extends Error {
  readonly code: string;
  /** The input field the error is about, e.g. `resources[2].ranges` or `--work_dir`. */
  readonly field: string | undefined;

  constructor(code: string, message: string, options: { field?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CorralError';
    this.code = code;
    this.field = options.field;
  }
}

/** Input that does not parse or does not satisfy a rule. */
export class ValidationError extends CorralError {
  constructor(field: string, reason: string, options: { code?: string; cause?: unknown } = {}) {
    super(options.code ?? 'INVALID', `${field}: ${reason}`, { field, cause: options.cause });
    this.name = 'ValidationError';
  }
}

export function isCorralError(e: unknown): e is CorralError {
  return e instanceof CorralError;
}

/** Describe any thrown value as text, for logs and error answers. */
export function describeError(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
