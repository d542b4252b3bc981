/**
 * Pacing of UPDATE writes across a speaker's sessions, so that session set-up (accept, OPEN,
 * KEEPALIVE) and reads never wait behind a bulk push, and a reflector with many clients writes
 * each of them once per round rather than once per change. RFC 4271 §9.2.1.1 leaves the rate of
 * UPDATEs to the implementation (MinRouteAdvertisementIntervalTimer); this is a short,
 * load-proportional form of it:
 *
 *  - a session with UPDATE bytes queued (session.ts `sendEncoded`) asks to be flushed; the flushes
 *    go in rounds: every session queued when a round starts is written once (all it has queued,
 *    one write), at most `perTurn` sessions per event-loop turn (`soon` between slices, so the
 *    loop polls sockets in between);
 *  - a session that queues more after its flush in this round waits for the next round, and the
 *    next round starts no sooner than `gapPerSessionMs` × (sessions in the last round) after it
 *    ended (capped at `maxGapMs`): a push to 1000 clients is followed by a lull in which what
 *    arrives gathers into the next write to each, while a speaker with a few peers (gap under
 *    1 ms) writes on the next turn as before.
 *
 * Order per session is the session's queue (FIFO); the pacer decides only when. Pure scheduling:
 * time, turns and timers come from the injected Clock.
 */
import { soon, type Clock } from "../clock.js";

/** A session whose queued UPDATE bytes the pacer flushes. */
export interface PacedSession {
  /** Writes what is queued (one write), unless its connection is backed up or gone. */
  flushQueued(): void;
}

export interface PacerOptions {
  /** Sessions flushed per event-loop turn. */
  perTurn: number;
  /** Quiet time after a round, per session the round wrote (ms). */
  gapPerSessionMs: number;
  /** The longest quiet time after a round (ms). */
  maxGapMs: number;
}

/** 1024 writes per turn (one turn per round up to 1024 clients, ~20 ms quiet; see docs/benchmarks.md); 50 µs of quiet per session written: 1000 clients → 50 ms between rounds. */
export const DEFAULT_PACING: PacerOptions = { perTurn: 1024, gapPerSessionMs: 0.05, maxGapMs: 100 };

export class SendPacer {
  /** Sessions waiting for the next round, in the order they asked. */
  private ready: PacedSession[] = [];
  /** The round in progress and how far it got. */
  private round: PacedSession[] = [];
  private next = 0;
  private state: "idle" | "scheduled" | "running" = "idle";
  /** No round starts before this time (the quiet after the last one). */
  private quietUntil = 0;
  /** Rounds run and sessions flushed (for tests and the speaker's metrics). */
  readonly stats = { rounds: 0, flushes: 0 };

  constructor(
    private readonly clock: Clock,
    private readonly opts: PacerOptions = DEFAULT_PACING,
  ) {
    if (!(opts.perTurn >= 1)) throw new RangeError("perTurn must be at least 1");
  }

  /** Sessions waiting for a round (not counting the round in progress). */
  get waiting(): number {
    return this.ready.length;
  }

  /** The session has bytes queued: it is flushed in the next round (the caller asks once per flush). */
  queue(s: PacedSession): void {
    this.ready.push(s);
    if (this.state === "idle") this.schedule();
  }

  private schedule(): void {
    this.state = "scheduled";
    // never longer than the longest quiet, even if the wall clock stepped back since
    const wait = Math.min(this.opts.maxGapMs, this.quietUntil - this.clock.now());
    if (wait >= 1) this.clock.setTimeout(() => this.start(), wait);
    else soon(this.clock, () => this.start());
  }

  private start(): void {
    this.state = "running";
    this.round = this.ready;
    this.ready = [];
    this.next = 0;
    this.stats.rounds++;
    this.slice();
  }

  private slice(): void {
    const end = Math.min(this.round.length, this.next + this.opts.perTurn);
    while (this.next < end) {
      const s = this.round[this.next++]!;
      this.stats.flushes++;
      s.flushQueued();
    }
    if (this.next < this.round.length) {
      soon(this.clock, () => this.slice());
      return;
    }
    const gap = Math.min(this.opts.maxGapMs, this.round.length * this.opts.gapPerSessionMs);
    this.quietUntil = this.clock.now() + gap;
    this.round = [];
    this.next = 0;
    this.state = "idle";
    if (this.ready.length > 0) this.schedule();
  }
}
