// The BFD service over a fake transport and the fake clock: two services talk through an
// in-memory wire that a test can cut; state changes and watcher calls are asserted in fake time.
import { test } from "node:test";
import assert from "node:assert/strict";
import { FakeClock, type Clock, type TimerHandle } from "../clock.js";
import { BfdService } from "./service.js";
import type { BfdPath, BfdTransport, ReceivedPacket } from "./udp.js";

class Wire {
  cut = false;
  ends = new Map<string, FakeTransport>();
}
class FakeTransport implements BfdTransport {
  handler: (p: ReceivedPacket) => void = () => {};
  constructor(
    private readonly wire: Wire,
    private readonly me: string,
  ) {
    wire.ends.set(me, this);
  }
  onPacket(h: (p: ReceivedPacket) => void): void {
    this.handler = h;
  }
  async open(peer: string, _local: string | undefined, multihop: boolean): Promise<BfdPath> {
    return {
      send: (bytes) => {
        if (this.wire.cut) return;
        const other = this.wire.ends.get(peer);
        // delivered on the next turn, as a socket would
        queueMicrotask(() => other?.handler({ bytes: bytes.slice(), address: this.me, port: 49152, multihop }));
      },
      close: () => {},
    };
  }
  async close(): Promise<void> {}
}

async function run(clock: FakeClock, ms: number, step = 10): Promise<void> {
  for (let t = 0; t < ms; t += step) {
    clock.advance(step);
    await new Promise((r) => setImmediate(r));
  }
}

function pair() {
  const clock = new FakeClock(0);
  const wire = new Wire();
  let seed = 1;
  const random = () => (seed = (seed * 48271) % 2147483647) / 2147483647;
  const logs: string[] = [];
  const mk = (me: string) =>
    new BfdService(new FakeTransport(wire, me), { clock, random, log: (_l, msg, f) => msg === "bfd session state" && logs.push(`${me}:${f?.from}>${f?.to}`) });
  return { clock, wire, a: mk("10.0.0.1"), b: mk("10.0.0.2"), logs };
}

test("two services come Up, and both detect a cut path within multiplier × interval", async () => {
  const { clock, wire, a, b, logs } = pair();
  const downs: string[] = [];
  a.watch("10.0.0.2", "10.0.0.1", { minRx: 100, minTx: 100, multiplier: 3 }, (r) => downs.push(`a ${r}`));
  b.watch("10.0.0.1", "10.0.0.2", { minRx: 100, minTx: 100, multiplier: 3 }, (r) => downs.push(`b ${r}`));
  await run(clock, 3000);
  assert.equal(a.status()[0]!.state, "Up");
  assert.equal(b.status()[0]!.state, "Up");
  assert.equal(a.status()[0]!.txIntervalMs, 100);
  assert.equal(a.status()[0]!.detectionTimeMs, 300);
  wire.cut = true;
  const cutAt = clock.now();
  await run(clock, 300, 5);
  assert.deepEqual(downs.sort(), ["a BFD down (diag 1)", "b BFD down (diag 1)"]);
  assert.ok(clock.now() - cutAt <= 300);
  assert.ok(logs.includes("10.0.0.1:Up>Down") && logs.includes("10.0.0.2:Up>Down"));
  // healed: Up again, and watchers hear nothing more
  wire.cut = false;
  await run(clock, 5000);
  assert.equal(a.status()[0]!.state, "Up");
  assert.equal(downs.length, 2);
});

test("a peer that closes its session (AdminDown) takes nothing down here (RFC 5882 §3.2)", async () => {
  const { clock, a, b } = pair();
  const downs: string[] = [];
  a.watch("10.0.0.2", undefined, { minRx: 100, minTx: 100, multiplier: 3 }, (r) => downs.push(r));
  const wb = b.watch("10.0.0.1", undefined, { minRx: 100, minTx: 100, multiplier: 3 }, () => {});
  await run(clock, 3000);
  assert.equal(a.status()[0]!.state, "Up");
  wb.close();
  await run(clock, 2000);
  assert.equal(a.status()[0]!.state, "Down");
  assert.deepEqual(downs, []);
});

test("two watchers of one peer share a session; it ends with the last", async () => {
  const { clock, a } = pair();
  const w1 = a.watch("10.0.0.2", undefined, { minRx: 300, minTx: 300, multiplier: 3 }, () => {});
  const w2 = a.watch("10.0.0.2", undefined, { minRx: 300, minTx: 300, multiplier: 3 }, () => {});
  await run(clock, 100);
  assert.equal(a.status().length, 1);
  assert.throws(() => a.watch("10.0.0.2", undefined, { minRx: 100, minTx: 300, multiplier: 3 }, () => {}), { code: "BFD_CONFIG" });
  w1.close();
  assert.equal(a.status().length, 1);
  w2.close();
  assert.equal(a.status().length, 0);
  assert.throws(() => a.watch("10.0.0.2", undefined, { minRx: 0, minTx: 300, multiplier: 3 }, () => {}), { code: "BFD_CONFIG" });
});

test("property: any two timer settings come Up and agree on the intervals of RFC 5880 §6.8.2-§6.8.4", async () => {
  const fc = (await import("fast-check")).default;
  // intervals from 100 ms, so the fake wire's delivery (up to one 5 ms step late) never matters
  const timers = fc.record({
    minRx: fc.integer({ min: 100, max: 2000 }),
    minTx: fc.integer({ min: 100, max: 2000 }),
    multiplier: fc.integer({ min: 1, max: 10 }),
  });
  await fc.assert(
    fc.asyncProperty(timers, timers, async (ta, tb) => {
      const { clock, a, b } = pair();
      a.watch("10.0.0.2", undefined, ta, () => {});
      b.watch("10.0.0.1", undefined, tb, () => {});
      await run(clock, 12_000, 5);
      const sa = a.status()[0]!;
      const sb = b.status()[0]!;
      assert.equal(sa.state, "Up");
      assert.equal(sb.state, "Up");
      assert.equal(sa.txIntervalMs, Math.max(ta.minTx, tb.minRx));
      assert.equal(sb.txIntervalMs, Math.max(tb.minTx, ta.minRx));
      assert.equal(sa.detectionTimeMs, tb.multiplier * Math.max(ta.minRx, tb.minTx));
      assert.equal(sb.detectionTimeMs, ta.multiplier * Math.max(tb.minRx, ta.minTx));
    }),
    { numRuns: 25 },
  );
});

/**
 * A process's event loop one phase at a time, as Node runs it: due timers first, then what the
 * sockets hold (the test delivers it), then `soon` work (setImmediate's check phase).
 */
class LoopClock implements Clock {
  t = 0;
  private seq = 0;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();
  private queue: (() => void)[] = [];
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + Math.max(0, ms), fn });
    return { id };
  }
  clearTimeout(h: TimerHandle): void {
    this.timers.delete(h.id as number);
  }
  soon(fn: () => void): void {
    this.queue.push(fn);
  }
  timersPhase(): void {
    for (;;) {
      const due = [...this.timers].filter(([, x]) => x.at <= this.t).sort((x, y) => x[1].at - y[1].at)[0];
      if (!due) return;
      this.timers.delete(due[0]);
      due[1].fn();
    }
  }
  checkPhase(): void {
    while (this.queue.length) {
      const q = this.queue;
      this.queue = [];
      for (const fn of q) fn();
    }
  }
}

test("a stalled process reads what arrived before it judges: no false Down after a late wake-up; a silent peer is still detected", async () => {
  const clockA = new LoopClock();
  const clockB = new FakeClock(0);
  let seed = 7;
  const random = () => (seed = (seed * 48271) % 2147483647) / 2147483647;
  // a's socket: what b sends waits here until a's loop reads it; b's is read on b's turn
  const toA: ReceivedPacket[] = [];
  const toB: ReceivedPacket[] = [];
  let dropToA = false;
  const transport = (me: string, inbox: ReceivedPacket[], drop: () => boolean): BfdTransport & { handler: (p: ReceivedPacket) => void } => {
    const t = {
      handler: (_p: ReceivedPacket) => {},
      onPacket(h: (p: ReceivedPacket) => void) {
        t.handler = h;
      },
      async open(_peer: string, _local: string | undefined, multihop: boolean): Promise<BfdPath> {
        return { send: (bytes) => !drop() && inbox.push({ bytes: bytes.slice(), address: me, port: 49152, multihop }), close: () => {} };
      },
      async close() {},
    };
    return t;
  };
  const ta = transport("10.0.0.1", toB, () => false);
  const tb = transport("10.0.0.2", toA, () => dropToA);
  const a = new BfdService(ta, { clock: clockA, random });
  const b = new BfdService(tb, { clock: clockB, random });
  const downs: string[] = [];
  // a detects b within 3 × 100 ms; b gives a 3 × 300 ms (a sends every 300 ms at most)
  a.watch("10.0.0.2", undefined, { minRx: 100, minTx: 100, multiplier: 3 }, (r) => downs.push(r));
  b.watch("10.0.0.1", undefined, { minRx: 300, minTx: 100, multiplier: 3 }, () => {});
  await new Promise((r) => setImmediate(r)); // the paths open
  const read = (inbox: ReceivedPacket[], t: { handler: (p: ReceivedPacket) => void }) => {
    for (const p of inbox.splice(0)) t.handler(p);
  };
  const aTurn = (ms: number) => {
    clockA.t += ms;
    clockA.timersPhase();
    read(toA, ta);
    clockA.checkPhase();
  };
  const both = (ms: number) => {
    for (let i = 0; i < ms; i += 5) {
      clockB.advance(5);
      read(toB, tb);
      aTurn(5);
    }
  };
  both(3000);
  assert.equal(a.status()[0]!.state, "Up");
  assert.equal(a.status()[0]!.detectionTimeMs, 300);
  // a cannot run for 450 ms (b can: it keeps sending, its packets wait in a's socket)
  for (let i = 0; i < 450; i += 5) {
    clockB.advance(5);
    read(toB, tb);
  }
  assert.ok(toA.length >= 3, "b's packets wait unread");
  aTurn(450); // a's detection time passed long ago by its clock; the packets are read first
  assert.equal(a.status()[0]!.state, "Up", "our own stall is not the peer's silence");
  assert.deepEqual(downs, []);
  both(1000);
  assert.equal(a.status()[0]!.state, "Up");
  // a real silence: b's packets lost on the way
  dropToA = true;
  both(400);
  assert.equal(a.status()[0]!.state, "Down");
  assert.deepEqual(downs, ["BFD down (diag 1)"]);
});
