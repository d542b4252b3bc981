// The main thread's side of the BFD worker (worker-client.ts) against a fake worker and the fake
// clock: the worker starts with the first watch, watches and closes go over as messages, a
// conflicting watch is refused at once, status() is the last snapshot, a Down reaches its
// watcher, and a worker that dies reports its Up sessions down and is restarted with backoff and
// every watch. Then once with the real worker thread (bfd/worker.js) on loopback ports.
import { test } from "node:test";
import { Worker } from "node:worker_threads";
import assert from "node:assert/strict";
import { FakeClock } from "../clock.js";
import { hasCode } from "../errors.js";
import { BfdWorker, type WorkerLike } from "./worker-client.js";
import type { BfdSessionStatus } from "./service.js";
import type { BfdWorkerData, FromWorker, ToWorker } from "./worker-protocol.js";
import { freePort } from "../testkit/free-port.js";

class FakeWorker implements WorkerLike {
  sent: ToWorker[] = [];
  refd = true;
  terminated = false;
  private handlers: { message: ((m: FromWorker) => void)[]; error: ((e: Error) => void)[]; exit: ((c: number) => void)[] } = {
    message: [],
    error: [],
    exit: [],
  };
  constructor(readonly data: BfdWorkerData) {}
  postMessage(m: ToWorker): void {
    this.sent.push(m);
  }
  on(event: "message" | "error" | "exit", fn: (x: never) => void): this {
    (this.handlers[event] as unknown[]).push(fn);
    return this;
  }
  terminate(): Promise<number> {
    this.terminated = true;
    return Promise.resolve(1);
  }
  ref(): void {
    this.refd = true;
  }
  unref(): void {
    this.refd = false;
  }
  emit(m: FromWorker): void {
    for (const h of this.handlers.message) h(m);
  }
  crash(e: Error): void {
    for (const h of this.handlers.error) h(e);
    for (const h of this.handlers.exit) h(1);
  }
}

const T = { minRx: 100, minTx: 100, multiplier: 3 };
const session = (peer: string, state: BfdSessionStatus["state"]): BfdSessionStatus => ({
  peer,
  multihop: false,
  state,
  remoteState: state,
  localDiscriminator: 1,
  remoteDiscriminator: 2,
  diag: 0,
  txIntervalMs: 100,
  detectionTimeMs: 300,
});

function bed() {
  const clock = new FakeClock(0);
  const workers: FakeWorker[] = [];
  const logs: string[] = [];
  const bfd = new BfdWorker({
    clock,
    spawn: (d) => {
      const w = new FakeWorker(d);
      workers.push(w);
      return w;
    },
    log: (level, msg) => logs.push(`${level} ${msg}`),
  });
  return { clock, workers, logs, bfd };
}

test("no worker until the first watch; then watch and close are messages, and the worker is unref'd", () => {
  const { workers, bfd } = bed();
  assert.equal(workers.length, 0);
  assert.deepEqual(bfd.status(), []);
  const w = bfd.watch("fd00::0001", "fd00::2", T, () => {});
  assert.equal(workers.length, 1);
  assert.equal(workers[0]!.refd, false);
  bfd.watch("10.0.0.9", undefined, T, () => {});
  w.close();
  w.close(); // twice: one message
  assert.deepEqual(workers[0]!.sent, [
    { op: "watch", id: 1, peer: "fd00::1", local: "fd00::2", opts: T },
    { op: "watch", id: 2, peer: "10.0.0.9", local: undefined, opts: T },
    { op: "unwatch", id: 1 },
  ]);
  assert.equal(workers.length, 1);
});

test("a watch that disagrees with its session, or has bad options, is refused at once (BFD_CONFIG)", () => {
  const { workers, bfd } = bed();
  bfd.watch("10.0.0.1", undefined, T, () => {});
  assert.throws(
    () => bfd.watch("10.0.0.1", undefined, { ...T, minRx: 300 }, () => {}),
    (e) => hasCode(e, "BFD_CONFIG"),
  );
  assert.throws(
    () => bfd.watch("10.0.0.2", undefined, { ...T, multiplier: 0 }, () => {}),
    (e) => hasCode(e, "BFD_CONFIG"),
  );
  // the same options join; multihop is another session
  bfd.watch("10.0.0.1", undefined, T, () => {});
  bfd.watch("10.0.0.1", undefined, { ...T, minRx: 300, multihop: true }, () => {});
  assert.equal(workers[0]!.sent.length, 3);
});

test("status() is the worker's last snapshot; a Down goes to its watcher only, and not after its close", () => {
  const { workers, bfd } = bed();
  const downs: string[] = [];
  const a = bfd.watch("10.0.0.1", undefined, T, (r) => downs.push(`a ${r}`));
  bfd.watch("10.0.0.2", undefined, T, (r) => downs.push(`b ${r}`));
  workers[0]!.emit({ op: "status", sessions: [session("10.0.0.1", "Up")] });
  assert.deepEqual(
    bfd.status().map((s) => s.state),
    ["Up"],
  );
  workers[0]!.emit({ op: "down", id: 1, reason: "BFD down (diag 1)" });
  a.close();
  workers[0]!.emit({ op: "down", id: 1, reason: "late" });
  assert.deepEqual(downs, ["a BFD down (diag 1)"]);
});

test("a worker that dies: its Up sessions are reported down, and it restarts with backoff and every watch", () => {
  const { clock, workers, logs, bfd } = bed();
  const downs: string[] = [];
  bfd.watch("10.0.0.1", undefined, T, (r) => downs.push(`1 ${r}`));
  bfd.watch("10.0.0.1", undefined, T, (r) => downs.push(`1' ${r}`));
  bfd.watch("10.0.0.2", undefined, T, (r) => downs.push(`2 ${r}`));
  workers[0]!.emit({ op: "status", sessions: [session("10.0.0.1", "Up"), session("10.0.0.2", "Init")] });
  workers[0]!.crash(new Error("boom"));
  // both watchers of the Up session, not the one that never came Up
  assert.deepEqual(
    downs.map((d) => d.split(" ")[0]),
    ["1", "1'"],
  );
  assert.match(downs[0]!, /BFD worker stopped: Error: boom/);
  assert.ok(logs.some((l) => l.startsWith("error the BFD worker stopped")));
  assert.deepEqual(bfd.status(), []);
  // a watch made while the restart waits goes to the new worker with the others
  bfd.watch("10.0.0.3", undefined, T, () => {});
  assert.equal(workers.length, 1);
  clock.advance(99);
  assert.equal(workers.length, 1);
  clock.advance(1);
  assert.equal(workers.length, 2);
  assert.deepEqual(
    workers[1]!.sent.map((m) => (m.op === "watch" ? `${m.id} ${m.peer}` : m.op)),
    ["1 10.0.0.1", "2 10.0.0.1", "3 10.0.0.2", "4 10.0.0.3"],
  );
  // dying again at once: twice the delay; after a long run, the first delay again
  workers[1]!.crash(new Error("again"));
  clock.advance(199);
  assert.equal(workers.length, 2);
  clock.advance(1);
  assert.equal(workers.length, 3);
  clock.advance(60_000);
  workers[2]!.crash(new Error("later"));
  clock.advance(100);
  assert.equal(workers.length, 4);
});

test("close: the worker is told, held until it answers, and terminated; no restart after", async () => {
  const { clock, workers, bfd } = bed();
  bfd.watch("10.0.0.1", undefined, T, () => {});
  const closed = bfd.close();
  const w = workers[0]!;
  assert.deepEqual(w.sent.at(-1), { op: "close" });
  assert.equal(w.refd, true);
  assert.equal(w.terminated, false);
  w.emit({ op: "closed" });
  await closed;
  assert.equal(w.terminated, true);
  w.crash(new Error("exit after terminate"));
  clock.advance(60_000);
  assert.equal(workers.length, 1);
  assert.throws(
    () => bfd.watch("10.0.0.1", undefined, T, () => {}),
    (e) => hasCode(e, "BFD_CLOSED"),
  );
});

test("close: a worker that does not answer is terminated after the timeout", async () => {
  const { clock, workers, bfd } = bed();
  bfd.watch("10.0.0.1", undefined, T, () => {});
  const closed = bfd.close();
  clock.advance(2000);
  await closed;
  assert.equal(workers[0]!.terminated, true);
});

test("the real worker thread: a session on loopback comes Up (with itself), its snapshot and log, and close", async (t) => {
  const logs: string[] = [];
  const bfd = new BfdWorker({ singleHopPort: await freePort(), log: (_l, msg, f) => logs.push(`${msg}${f?.to ? ` ${f.to}` : ""}`) });
  t.after(() => bfd.close());
  bfd.watch("127.0.0.1", "127.0.0.1", T, () => {});
  // on loopback its own packets come back to it, addressed to its own discriminator: Up
  for (let i = 0; i < 500 && bfd.status()[0]?.state !== "Up"; i++) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(
    bfd.status().map((s) => [s.peer, s.local, s.state, s.detectionTimeMs]),
    [["127.0.0.1", "127.0.0.1", "Up", 300]],
  );
  assert.ok(logs.includes("bfd session started") && logs.includes("bfd session state Up"), logs.join("; "));
  await bfd.close();
  assert.deepEqual(bfd.status(), []);
  assert.ok(logs.includes("bfd session state AdminDown"), logs.join("; "));
});

test("the real worker thread ended from outside: its Up session is reported down, and a new worker brings it Up again", async (t) => {
  const started: Worker[] = [];
  const downs: string[] = [];
  const bfd = new BfdWorker({
    singleHopPort: await freePort(),
    backoffMs: { first: 50, max: 50 },
    spawn: (data) => {
      const w = new Worker(new URL("./worker.js", import.meta.url), { workerData: data });
      started.push(w);
      return w as unknown as WorkerLike;
    },
  });
  t.after(() => bfd.close());
  bfd.watch("127.0.0.1", "127.0.0.1", T, (r) => downs.push(r));
  const up = async () => {
    for (let i = 0; i < 500 && bfd.status()[0]?.state !== "Up"; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(bfd.status()[0]?.state, "Up");
  };
  await up();
  await started[0]!.terminate();
  for (let i = 0; i < 200 && downs.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(downs, ["BFD down (the BFD worker stopped: exit code 1)"]);
  await up();
  assert.equal(started.length, 2);
  assert.equal(bfd.starts, 2);
});
