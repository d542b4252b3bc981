/**
 * SIGINT and SIGTERM during a multi-resource write: instead of the process dying part-way, the
 * signal aborts `signal`; the write step (write-batch.ts) stops, writes nothing or rolls back, and
 * says so; the command then exits 130 (SIGINT) or 143 (SIGTERM), as a shell reports a signal.
 * The handlers are removed when `fn` ends, so a later signal has its usual effect.
 */
export async function withInterrupt<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  const onInt = () => ac.abort("SIGINT");
  const onTerm = () => ac.abort("SIGTERM");
  process.on("SIGINT", onInt);
  process.on("SIGTERM", onTerm);
  try {
    return await fn(ac.signal);
  } finally {
    process.off("SIGINT", onInt);
    process.off("SIGTERM", onTerm);
  }
}

/** The exit code for an interrupted command (128 + the signal's number). */
export function interruptedExitCode(details: unknown): number {
  return (details as { signal?: string } | undefined)?.signal === "SIGTERM" ? 143 : 130;
}
