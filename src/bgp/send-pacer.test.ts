// The send pacer (send-pacer.ts) alone, with a fake clock: rounds of at most `perTurn` flushes per
// turn, a session that queues again after its flush waits for the next round (what it queues
// before its flush goes in the same write), and the quiet time after a big round.
import { test } from "node:test";
import assert from "node:assert/strict";
import { FakeClock } from "../clock.js";
import { SendPacer, type PacedSession } from "./send-pacer.js";

/** A session as the pacer sees it: queues items, asks once per flush, writes all it has. */
class FakeSession implements PacedSession {
  queued: string[] = [];
  writes: string[][] = [];
  private asked = false;
  constructor(private readonly pacer: SendPacer) {}
  send(x: string): void {
    this.queued.push(x);
    if (this.asked) return;
    this.asked = true;
    this.pacer.queue(this);
  }
  flushQueued(): void {
    this.asked = false;
    if (this.queued.length === 0) return;
    this.writes.push(this.queued);
    this.queued = [];
  }
}

test("a round flushes at most perTurn sessions per turn, in the order they asked", () => {
  const clock = new FakeClock();
  const pacer = new SendPacer(clock, { perTurn: 2, gapPerSessionMs: 0, maxGapMs: 0 });
  const ss = Array.from({ length: 5 }, () => new FakeSession(pacer));
  ss.forEach((s, i) => s.send(`u${i}`));
  assert.deepEqual(
    ss.map((s) => s.writes.length),
    [0, 0, 0, 0, 0],
    "nothing is written in the caller's turn",
  );
  const written = () => ss.map((s) => s.writes.length);
  clock.runSoonOnce();
  assert.deepEqual(written(), [1, 1, 0, 0, 0]);
  clock.runSoonOnce();
  assert.deepEqual(written(), [1, 1, 1, 1, 0]);
  clock.runSoonOnce();
  assert.deepEqual(written(), [1, 1, 1, 1, 1]);
  assert.equal(clock.runSoonOnce(), 0, "idle once the round is done");
  assert.deepEqual(pacer.stats, { rounds: 1, flushes: 5 });
});

test("queued before its flush: the same write; queued after it: the next round", () => {
  const clock = new FakeClock();
  const pacer = new SendPacer(clock, { perTurn: 1, gapPerSessionMs: 0, maxGapMs: 0 });
  const a = new FakeSession(pacer);
  const b = new FakeSession(pacer);
  a.send("a1");
  b.send("b1");
  clock.runSoonOnce(); // round 1, first slice: a
  a.send("a2"); // a was flushed in this round: waits for the next one
  b.send("b2"); // b was not yet: goes with b1
  clock.runSoonOnce(); // second slice: b
  assert.deepEqual(a.writes, [["a1"]]);
  assert.deepEqual(b.writes, [["b1", "b2"]]);
  clock.runSoon(); // round 2
  assert.deepEqual(a.writes, [["a1"], ["a2"]]);
  assert.deepEqual(b.writes, [["b1", "b2"]]);
  assert.equal(pacer.stats.rounds, 2);
});

test("after a round of n sessions, n × gapPerSessionMs of quiet (capped) gathers what comes into one write each", () => {
  const clock = new FakeClock();
  const pacer = new SendPacer(clock, { perTurn: 64, gapPerSessionMs: 0.5, maxGapMs: 30 });
  const ss = Array.from({ length: 40 }, () => new FakeSession(pacer));
  for (const s of ss) s.send("first");
  clock.runSoon(); // the first round goes at once (the pacer was idle)
  assert.ok(ss.every((s) => s.writes.length === 1));
  // five more changes for everyone during the quiet: 40 × 0.5 = 20 ms
  for (let k = 0; k < 5; k++) for (const s of ss) s.send(`c${k}`);
  clock.runSoon();
  assert.ok(
    ss.every((s) => s.writes.length === 1),
    "nothing during the quiet",
  );
  clock.advance(19);
  assert.ok(ss.every((s) => s.writes.length === 1));
  clock.advance(1);
  assert.ok(
    ss.every((s) => s.writes.length === 2 && s.writes[1]!.join() === "c0,c1,c2,c3,c4"),
    "one write with the five, in order",
  );
  // a bigger round: the cap (80 × 0.5 = 40 > 30 ms)
  const more = Array.from({ length: 40 }, () => new FakeSession(pacer));
  clock.advance(20);
  for (const s of [...ss, ...more]) s.send("x");
  clock.runSoon();
  for (const s of ss) s.send("y");
  clock.advance(29);
  assert.ok(ss.every((s) => s.writes.length === 3));
  clock.advance(1);
  assert.ok(ss.every((s) => s.writes.length === 4));
});

test("a few sessions (quiet under 1 ms) are written on the next turn, every time", () => {
  const clock = new FakeClock();
  const pacer = new SendPacer(clock, { perTurn: 64, gapPerSessionMs: 0.05, maxGapMs: 100 });
  const s = new FakeSession(pacer);
  for (let k = 0; k < 3; k++) {
    s.send(`u${k}`);
    assert.equal(clock.runSoonOnce(), 1);
    assert.equal(s.writes.length, k + 1);
  }
});

test("a wall clock stepped back never stretches the quiet beyond maxGapMs", () => {
  const clock = new FakeClock();
  let back = 0;
  // the fake clock's timers, read through a wall clock that can step back
  const wall = {
    now: () => clock.now() - back,
    setTimeout: (fn: () => void, ms: number) => clock.setTimeout(fn, ms),
    clearTimeout: (h: Parameters<FakeClock["clearTimeout"]>[0]) => clock.clearTimeout(h),
    soon: (fn: () => void) => clock.soon(fn),
  };
  const pacer = new SendPacer(wall, { perTurn: 64, gapPerSessionMs: 1, maxGapMs: 30 });
  const ss = Array.from({ length: 40 }, () => new FakeSession(pacer));
  for (const s of ss) s.send("a");
  clock.runSoon(); // a round; quiet for 30 ms (40 × 1 ms, capped)
  back = 3_600_000; // the wall clock steps an hour back: the quiet's end now looks an hour away
  for (const s of ss) s.send("b");
  clock.advance(29);
  assert.ok(ss.every((s) => s.writes.length === 1));
  clock.advance(1);
  assert.ok(
    ss.every((s) => s.writes.length === 2),
    "written after maxGapMs, not an hour later",
  );
});

test("perTurn below 1 is refused", () => {
  assert.throws(() => new SendPacer(new FakeClock(), { perTurn: 0, gapPerSessionMs: 0, maxGapMs: 0 }), RangeError);
});
