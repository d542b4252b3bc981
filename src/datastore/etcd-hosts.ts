/**
 * The etcd client's transport policy (etcd.ts): which gRPC failures mean "could not talk to etcd",
 * whether a request never left the client, the per-endpoint gate that skips a failed endpoint for
 * a second, and hanging up a stream without it counting as a host failure.
 */
import etcd3 from "etcd3";
import type { IDuplexStream, IOptions } from "etcd3";

export type FaultPolicy = NonNullable<NonNullable<IOptions["faultHandling"]>["global"]>;

/** Thrown (instead of calling) for an endpoint that failed less than HOST_DOWN_MS ago. */
export class HostDownError extends Error {}

const HOST_DOWN_MS = 1000;

/**
 * Per-endpoint gate for the etcd3 connection pool (in place of its circuit breaker): after a
 * transport failure the endpoint is skipped for HOST_DOWN_MS, so the pool tries the next one
 * within the same call, and a request to it is never sent. With every endpoint down, calls fail
 * fast (HostDownError → DS_UNAVAILABLE) and an endpoint is tried again after HOST_DOWN_MS.
 */
export class HostGate {
  private downUntil = 0;
  async execute<T>(fn: (ctx: { signal: AbortSignal; attempt: number }) => PromiseLike<T> | T): Promise<T> {
    if (Date.now() < this.downUntil) throw new HostDownError("endpoint failed recently, skipped");
    try {
      return await fn({ signal: new AbortController().signal, attempt: 0 });
    } catch (err) {
      if (isTransportError(err)) this.downUntil = Date.now() + HOST_DOWN_MS;
      throw err;
    }
  }
}

export const noPolicy = {
  execute: async <T>(fn: (ctx: { signal: AbortSignal; attempt: number }) => PromiseLike<T> | T): Promise<T> =>
    fn({ signal: new AbortController().signal, attempt: 0 }),
} as unknown as FaultPolicy;

export function hangUp(stream: IDuplexStream<unknown, unknown>): void {
  try {
    stream.end(); // half-close first, so the client library does not count our cancel as a host failure
    stream.cancel();
  } catch {
    // already gone
  }
}

/** gRPC status codes that mean "could not talk to etcd" (UNAVAILABLE, DEADLINE_EXCEEDED, …). */
export function isTransportError(err: unknown): boolean {
  return (
    err instanceof HostDownError ||
    err instanceof etcd3.GRPCUnavailableError ||
    err instanceof etcd3.GRPCDeadlineExceededError ||
    err instanceof etcd3.GRPCCancelledError ||
    err instanceof etcd3.GRPCInternalError ||
    err instanceof etcd3.GRPCUnknownError ||
    err instanceof etcd3.ClientClosedError
  );
}

/** True when gRPC failed before sending the request (no connection could be made). */
export function neverSent(err: unknown): boolean {
  if (err instanceof HostDownError) return true;
  return err instanceof etcd3.GRPCUnavailableError && /No connection established|ECONNREFUSED|Failed to connect/i.test(err.message);
}
