// FSM event sequences. A tiny harness plays the shell: timers run on a FakeClock, sends and
// socket actions are recorded.
import { test } from "node:test";
import assert from "node:assert/strict";
import { FakeClock, type TimerHandle } from "../clock.js";
import { initialState, step, OPEN_HOLD_TIME, type FsmConfig, type FsmEvent, type FsmState, type TimerName } from "./fsm.js";
import { buildOpen } from "./negotiate.js";
import type { OpenMessage } from "./wire/open.js";

const CONFIG: FsmConfig = { localAs: 64512, peerAs: 64512, routerId: "10.0.0.1", holdTime: 9, connectRetryTime: 5, passive: false };

class Harness {
  state: FsmState;
  clock = new FakeClock();
  log: string[] = [];
  timers = new Map<TimerName, TimerHandle>();
  constructor(config: FsmConfig = CONFIG) {
    this.state = initialState(config);
  }
  fire(e: FsmEvent): this {
    const r = step(this.state, e);
    this.state = r.state;
    for (const a of r.actions) {
      switch (a.type) {
        case "startTimer": {
          const old = this.timers.get(a.timer);
          if (old) this.clock.clearTimeout(old);
          const ev: FsmEvent =
            a.timer === "hold"
              ? { type: "HoldTimerExpires" }
              : a.timer === "keepalive"
                ? { type: "KeepaliveTimerExpires" }
                : { type: "ConnectRetryTimerExpires" };
          this.timers.set(
            a.timer,
            this.clock.setTimeout(() => this.fire(ev), a.seconds * 1000),
          );
          break;
        }
        case "stopTimer": {
          const h = this.timers.get(a.timer);
          if (h) this.clock.clearTimeout(h);
          this.timers.delete(a.timer);
          break;
        }
        case "sendNotification":
          this.log.push(`notify ${a.notification.code}/${a.notification.subcode}`);
          break;
        case "down":
          this.log.push(`down${a.wasEstablished ? " (was established)" : ""}`);
          break;
        default:
          this.log.push(a.type);
      }
    }
    return this;
  }
  take(): string[] {
    const l = this.log;
    this.log = [];
    return l;
  }
}

function peerOpen(over: Partial<OpenMessage> = {}, asNumber = 64512): OpenMessage {
  return { ...buildOpen({ asNumber, routerId: "10.0.0.2", holdTime: 30, families: ["ipv4"], addPath: 0 }), ...over };
}

function establish(h: Harness): void {
  h.fire({ type: "ManualStart" }).fire({ type: "TcpConnectionConfirmed" }).fire({ type: "OpenReceived", open: peerOpen() }).fire({ type: "KeepaliveReceived" });
  assert.equal(h.state.name, "Established");
  h.take();
}

test("active open: Idle → Connect → OpenSent → OpenConfirm → Established; hold = min(9, 30)", () => {
  const h = new Harness();
  h.fire({ type: "ManualStart" });
  assert.equal(h.state.name, "Connect");
  assert.deepEqual(h.take(), ["connect"]);
  h.fire({ type: "TcpConnectionConfirmed" });
  assert.equal(h.state.name, "OpenSent");
  assert.deepEqual(h.take(), ["sendOpen"]);
  h.fire({ type: "OpenReceived", open: peerOpen() });
  assert.equal(h.state.name, "OpenConfirm");
  assert.equal(h.state.holdTime, 9);
  assert.equal(h.state.keepaliveTime, 3);
  assert.deepEqual(h.take(), ["sendKeepalive"]);
  h.fire({ type: "KeepaliveReceived" });
  assert.equal(h.state.name, "Established");
  assert.deepEqual(h.take(), ["established"]);
});

test("keepalives every hold/3 and hold timer expiry when the peer goes quiet", () => {
  const h = new Harness();
  establish(h);
  h.clock.advance(3000);
  assert.deepEqual(h.take(), ["sendKeepalive"]);
  h.clock.advance(3000);
  h.fire({ type: "KeepaliveReceived" }); // restarts hold at t=6 s
  h.clock.advance(8000);
  assert.equal(h.state.name, "Established");
  h.clock.advance(1000);
  assert.equal(h.state.name, "Idle");
  assert.deepEqual(
    h.take().filter((x) => x !== "sendKeepalive"),
    ["notify 4/0", "closeConnection", "down (was established)"],
  );
  assert.equal(h.clock.pendingTimers(), 0);
});

test("UPDATEs also restart the hold timer", () => {
  const h = new Harness();
  establish(h);
  for (let i = 0; i < 5; i++) {
    h.clock.advance(8000);
    h.fire({ type: "UpdateReceived" });
  }
  assert.equal(h.state.name, "Established");
});

test("hold time 0 from the peer: no keepalives, no hold timer", () => {
  const h = new Harness();
  h.fire({ type: "ManualStart" })
    .fire({ type: "TcpConnectionConfirmed" })
    .fire({ type: "OpenReceived", open: peerOpen({ holdTime: 0 }) })
    .fire({ type: "KeepaliveReceived" });
  h.take();
  h.clock.advance(3_600_000);
  assert.equal(h.state.name, "Established");
  assert.deepEqual(h.take(), []);
});

test("OpenSent waits 240 s for the OPEN, then 4/0", () => {
  const h = new Harness();
  h.fire({ type: "ManualStart" }).fire({ type: "TcpConnectionConfirmed" });
  h.take();
  h.clock.advance(OPEN_HOLD_TIME * 1000 - 1);
  assert.equal(h.state.name, "OpenSent");
  h.clock.advance(1);
  assert.equal(h.state.name, "Idle");
  assert.deepEqual(h.take(), ["notify 4/0", "closeConnection", "down"]);
});

test("OPEN validation: bad AS 2/2, hold time 1 or 2 → 2/6, own identifier on iBGP 2/3, version 2/1", () => {
  const cases: [Partial<OpenMessage>, number, string][] = [
    [{ holdTime: 2 }, 64512, "notify 2/6"],
    [{ holdTime: 1 }, 64512, "notify 2/6"],
    [{ routerId: "10.0.0.1" }, 64512, "notify 2/3"],
    [{ routerId: "0.0.0.0" }, 64512, "notify 2/3"],
    [{ version: 3 }, 64512, "notify 2/1"],
    [{}, 65000, "notify 2/2"],
  ];
  for (const [over, as, want] of cases) {
    const h = new Harness();
    h.fire({ type: "ManualStart" }).fire({ type: "TcpConnectionConfirmed" });
    h.take();
    h.fire({ type: "OpenReceived", open: peerOpen(over, as) });
    assert.equal(h.state.name, "Idle", JSON.stringify(over));
    assert.equal(h.take()[0], want, JSON.stringify(over));
  }
});

test("4-byte AS: the capability's AS is what is checked", () => {
  const h = new Harness({ ...CONFIG, peerAs: 4200000000 });
  h.fire({ type: "ManualStart" })
    .fire({ type: "TcpConnectionConfirmed" })
    .fire({ type: "OpenReceived", open: peerOpen({}, 4200000000) });
  assert.equal(h.state.name, "OpenConfirm");
});

test("connect failure → Active; ConnectRetry timer → Connect again", () => {
  const h = new Harness();
  h.fire({ type: "ManualStart" }).fire({ type: "TcpConnectionFails" });
  assert.equal(h.state.name, "Active");
  h.take();
  h.clock.advance(5000);
  assert.equal(h.state.name, "Connect");
  assert.deepEqual(h.take(), ["closeConnection", "connect"]);
});

test("passive: ManualStart → Active, no outbound connect; inbound connection → OpenSent", () => {
  const h = new Harness({ ...CONFIG, passive: true });
  h.fire({ type: "ManualStart" });
  assert.equal(h.state.name, "Active");
  h.clock.advance(60_000);
  assert.deepEqual(h.take(), []);
  h.fire({ type: "TcpConnectionConfirmed" });
  assert.equal(h.state.name, "OpenSent");
});

test("unexpected messages: UPDATE in OpenSent 5/1, in OpenConfirm 5/2, OPEN in Established 5/3", () => {
  const a = new Harness();
  a.fire({ type: "ManualStart" }).fire({ type: "TcpConnectionConfirmed" }).fire({ type: "UpdateReceived" });
  assert.ok(a.take().includes("notify 5/1"));
  const b = new Harness();
  b.fire({ type: "ManualStart" }).fire({ type: "TcpConnectionConfirmed" }).fire({ type: "OpenReceived", open: peerOpen() }).fire({ type: "UpdateReceived" });
  assert.ok(b.take().includes("notify 5/2"));
  const c = new Harness();
  establish(c);
  c.fire({ type: "OpenReceived", open: peerOpen() });
  assert.deepEqual(c.take(), ["notify 5/3", "closeConnection", "down (was established)"]);
});

test("ManualStop in Established sends the given Cease; NOTIFICATION received goes Idle without answering", () => {
  const h = new Harness();
  establish(h);
  h.fire({ type: "ManualStop", notification: { type: "notification", code: 6, subcode: 3, data: new Uint8Array(0) } });
  assert.deepEqual(h.take(), ["notify 6/3", "closeConnection", "down (was established)"]);
  const g = new Harness();
  establish(g);
  g.fire({ type: "NotificationReceived", notification: { type: "notification", code: 6, subcode: 2, data: new Uint8Array(0) } });
  assert.deepEqual(g.take(), ["closeConnection", "down (was established)"]);
  assert.equal(g.clock.pendingTimers(), 0);
});

test("an inbound connection while Idle (idle hold): Active, then OpenSent on it", () => {
  const h = new Harness({ ...CONFIG, passive: true });
  h.fire({ type: "InboundConnection" });
  assert.equal(h.state.name, "Active");
  assert.deepEqual(h.take(), []);
  h.fire({ type: "TcpConnectionConfirmed" });
  assert.equal(h.state.name, "OpenSent");
  assert.deepEqual(h.take(), ["sendOpen"]);
  // anywhere else it changes nothing
  establish(h.fire({ type: "ManualStop" }));
  h.fire({ type: "InboundConnection" });
  assert.equal(h.state.name, "Established");
});

test("collision resolved for the other connection: OpenSent again, timers stopped, the counter kept", () => {
  const h = new Harness();
  h.fire({ type: "ManualStart" }).fire({ type: "TcpConnectionConfirmed" }).fire({ type: "OpenReceived", open: peerOpen() });
  assert.equal(h.state.name, "OpenConfirm");
  h.take();
  h.fire({ type: "ConnectionReplaced" });
  assert.equal(h.state.name, "OpenSent");
  assert.equal(h.state.peerOpen, undefined);
  assert.equal(h.state.holdTime, undefined);
  assert.equal(h.clock.pendingTimers(), 0);
  h.fire({ type: "OpenReceived", open: peerOpen() }).fire({ type: "KeepaliveReceived" });
  assert.equal(h.state.name, "Established");
  // a collision begun before Established is resolved from there too: no down, OpenSent again
  h.take();
  h.fire({ type: "ConnectionReplaced" });
  assert.equal(h.state.name, "OpenSent");
  assert.deepEqual(h.take(), []);
  assert.equal(h.clock.pendingTimers(), 0);
  // and nothing while Idle
  h.fire({ type: "ManualStop" }).take();
  h.fire({ type: "ConnectionReplaced" });
  assert.equal(h.state.name, "Idle");
});

test("abort (graceful restart): Idle at once, timers stopped, no NOTIFICATION and no down", () => {
  const h = new Harness();
  establish(h);
  h.fire({ type: "Abort" });
  assert.equal(h.state.name, "Idle");
  assert.equal(h.state.connectRetryCounter, 0);
  assert.deepEqual(h.take(), []);
  assert.equal(h.clock.pendingTimers(), 0);
});
