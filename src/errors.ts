/**
 * Base error for tabby. Every error that crosses a module boundary carries a stable string
 * `code` (e.g. `TABBY_DATASTORE_CONFLICT`) that callers and tests match on, never the message.
 */
export class TabbyError extends Error {
  readonly code: string;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: string, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.details = details;
  }
}

/** True when `err` is a TabbyError with the given code. */
export function hasCode(err: unknown, code: string): boolean {
  return err instanceof TabbyError && err.code === code;
}
