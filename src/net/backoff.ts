/**
 * Retry delays: exponential backoff with jitter, one for every retry loop in tabby (the syncer's
 * re-list after a datastore outage, node registration, the BGP speaker's start, a session's idle
 * hold after a flap, the CNI plugins' IPAM lock). Each delay grows from `initialMs` by `factor`
 * up to `maxMs`; jitter then takes a random part of up to `jitter` of it away, as RFC 4271 §10
 * does for BGP's timers (a factor of 0.75 to 1.0), so that many hosts that failed together (a
 * datastore restart, a ToR reboot) do not all retry in the same instant. Jitter only shortens: a
 * delay never exceeds its base, and the maximum stays a maximum. Pure: randomness is injected.
 */
import { TabbyError } from "../errors.js";

export interface BackoffOptions {
  /** The first delay (ms, > 0). */
  initialMs: number;
  /** The largest delay (ms, >= initialMs). */
  maxMs: number;
  /** Growth per attempt (>= 1; default 2). */
  factor?: number;
  /** The fraction of each delay that jitter may take away (0..1; default 0.25, RFC 4271's). */
  jitter?: number;
}

/** A source of uniform numbers in [0, 1), Math.random's shape. */
export type Random = () => number;

/** The delay before retry number `attempt` (0 for the first retry) without jitter. */
export function backoffBase(opts: BackoffOptions, attempt: number): number {
  const factor = opts.factor ?? 2;
  // grows by multiplication, stopping at the maximum (no overflow to Infinity for large attempts)
  let d = opts.initialMs;
  for (let i = 0; i < attempt && d < opts.maxMs; i++) d *= factor;
  return Math.min(d, opts.maxMs);
}

/** `ms` less a random part of up to `fraction` of it: in (ms × (1 − fraction), ms]. */
export function jittered(ms: number, fraction: number, random: Random): number {
  return Math.round(ms * (1 - fraction * random()));
}

/** The retry delays of one retry loop: `next()` for each failed attempt, `reset()` after a success. */
export class Backoff {
  private attempt = 0;
  private readonly jitter: number;

  constructor(
    private readonly opts: BackoffOptions,
    private readonly random: Random = Math.random,
  ) {
    const factor = opts.factor ?? 2;
    this.jitter = opts.jitter ?? 0.25;
    const bad = (why: string) => new TabbyError("NET_BAD_BACKOFF", `backoff ${why}`, { ...opts });
    if (!(opts.initialMs > 0) || !Number.isFinite(opts.initialMs)) throw bad(`initialMs must be a positive number (got ${opts.initialMs})`);
    if (!(opts.maxMs >= opts.initialMs) || !Number.isFinite(opts.maxMs)) throw bad(`maxMs must be at least initialMs (got ${opts.maxMs})`);
    if (!(factor >= 1) || !Number.isFinite(factor)) throw bad(`factor must be at least 1 (got ${factor})`);
    if (!(this.jitter >= 0 && this.jitter <= 1)) throw bad(`jitter must be between 0 and 1 (got ${this.jitter})`);
  }

  /** The delay before the next retry (ms); each call counts one more failed attempt. */
  next(): number {
    return jittered(backoffBase(this.opts, this.attempt++), this.jitter, this.random);
  }

  /** After a success: the next failure starts again from initialMs. */
  reset(): void {
    this.attempt = 0;
  }

  /** Failed attempts counted since the last reset. */
  get failures(): number {
    return this.attempt;
  }
}
