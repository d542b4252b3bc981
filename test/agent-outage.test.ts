/**
 * The agent's side of a datastore outage, with a MemoryStore that can be switched "down" (every
 * call fails with DS_UNAVAILABLE and open watches fail): the syncer keeps what it delivered,
 * retries with exponential backoff, and on recovery delivers only what changed meanwhile; an
 * agent started while the datastore is down waits and registers once it is back, and an agent
 * that is running keeps its programmed routes through the outage and applies the changes made
 * during it afterwards.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { MemoryStore } from "../src/datastore/memory.js";
import { DatastoreError, type Store, type WatchListener } from "../src/datastore/store.js";
import { FakeClock } from "../src/clock.js";
import { Syncer, type KeyUpdate, type SyncStatus } from "../src/agent/syncer.js";
import { Agent } from "../src/agent/agent.js";
import { FakeSpeaker, eventually } from "../src/testkit/agent/fake-speaker.js";
import type { KernelRoute } from "../src/calc/host-desired.js";

const tick = async (n = 3) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

/** A store that can be taken down: calls reject, live watches get DS_UNAVAILABLE. */
function outageStore(inner: MemoryStore): { store: Store; down(): void; up(): void; calls: () => number } {
  let isDown = false;
  let calls = 0;
  const failers = new Set<WatchListener>();
  const unavailable = () => new DatastoreError("DS_UNAVAILABLE", "injected outage");
  const store = new Proxy(inner, {
    get(target, prop, receiver) {
      const v: unknown = Reflect.get(target, prop, receiver);
      if (typeof v !== "function") return v;
      if (prop === "watch") {
        return (prefix: string, after: number, l: WatchListener) => {
          if (isDown) {
            queueMicrotask(() => l.onError(unavailable()));
            return { close() {} };
          }
          let closed = false;
          const wrapped: WatchListener = { onEvents: (e) => !closed && l.onEvents(e), onError: (e) => !closed && l.onError(e) };
          failers.add(wrapped);
          const w = target.watch(prefix, after, wrapped);
          return {
            close() {
              closed = true;
              failers.delete(wrapped);
              w.close();
            },
          };
        };
      }
      if (prop === "close") return (v as () => Promise<void>).bind(target);
      return async (...args: unknown[]) => {
        calls++;
        if (isDown) throw unavailable();
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  }) as Store;
  return {
    store,
    down() {
      isDown = true;
      for (const l of [...failers]) l.onError(unavailable());
      failers.clear();
    },
    up() {
      isDown = false;
    },
    calls: () => calls,
  };
}

test("syncer: an outage keeps the delivered state, retries back off exponentially, recovery delivers the difference", async () => {
  const mem = new MemoryStore();
  const o = outageStore(mem);
  const clock = new FakeClock();
  await mem.put("/a/1", "one");
  await mem.put("/a/2", "two");
  const got: KeyUpdate[][] = [];
  const statuses: SyncStatus[] = [];
  // no jitter (random 0): the retries come at exactly the backoff's bases
  const s = new Syncer(o.store, ["/a/"], { onUpdates: (u) => got.push(u), onStatus: (st) => statuses.push(st) }, clock, 1000, 8000, () => 0);
  s.start();
  await tick();
  assert.deepEqual(got, [
    [
      { key: "/a/1", value: "one" },
      { key: "/a/2", value: "two" },
    ],
  ]);

  o.down();
  await tick();
  // Changes made while the agents cannot see the store (another path to it, e.g. a network cut).
  await mem.put("/a/3", "three");
  await mem.delete("/a/1");
  // Retry delays: 1, 2, 4, 8, 8 s. Count list attempts as time passes.
  const attempts: number[] = [];
  for (const step of [999, 1, 1999, 1, 3999, 1, 7999, 1, 7999, 1]) {
    clock.advance(step);
    await tick();
    attempts.push(o.calls());
  }
  const before = attempts[0]!;
  assert.deepEqual(
    attempts.map((a) => a - before),
    [0, 1, 1, 2, 2, 3, 3, 4, 4, 5],
    "retries at 1, 3, 7, 15 and 23 s",
  );
  assert.equal(got.length, 1, "nothing delivered (in particular no deletions) while the store is down");

  o.up();
  clock.advance(8000);
  await tick();
  assert.deepEqual(got.at(-1), [
    { key: "/a/1", value: undefined },
    { key: "/a/2", value: "two" },
    { key: "/a/3", value: "three" },
  ]);
  assert.equal(statuses.at(-1), "in-sync");
  // After a success the backoff starts again from 1 s.
  o.down();
  await tick();
  const c0 = o.calls();
  clock.advance(1000);
  await tick();
  assert.equal(o.calls(), c0 + 1);
  o.up();
  clock.advance(2000);
  await tick();
  // The watch works again: a new change streams in.
  await mem.put("/a/4", "four");
  await tick();
  assert.deepEqual(got.at(-1), [{ key: "/a/4", value: "four" }]);
  s.stop();
});

test("agent: starts during an outage and registers when the store is back; a running agent keeps its routes and applies changes made meanwhile", async () => {
  const R = "/calico/resources/v3/projectcalico.org/";
  // The agent's clock timers are unref'd (in the agent the speaker's sockets keep it alive).
  const keep = setInterval(() => {}, 1000);
  const mem = new MemoryStore();
  await mem.put(`${R}bgpconfigurations/default`, JSON.stringify({ spec: { asNumber: 65010 } }));
  await mem.put(`${R}nodes/h2`, JSON.stringify({ spec: { bgp: { ipv4Address: "10.99.0.12/24" } } }));
  await mem.put("/calico/ipam/v2/host/h1/ipv4/block/10.65.0.0-26", JSON.stringify({ state: "confirmed" }));
  const o = outageStore(mem);
  o.down();
  let routes: KernelRoute[] = [];
  let reconciles = 0;
  let speaker: FakeSpeaker | undefined;
  const logs: string[] = [];
  // Real clock: registration retries after 1 s.
  const agent = new Agent(
    { nodeName: "h1", ipv4: "10.99.0.11/24", batchDelayMs: 1 },
    {
      store: o.store,
      routes: { reconcile: async (r) => void ((routes = r), reconciles++) },
      interfaces: { configureWorkloadInterface: async () => {} },
      createSpeaker: (opts) => (speaker = new FakeSpeaker(opts)),
      log: (level, msg) => logs.push(`${level} ${msg}`),
    },
  );
  const started = agent.start();
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(await mem.get(`${R}nodes/h1`), undefined, "not registered while down");
  assert.ok(
    logs.some((l) => l.startsWith("warn datastore unavailable; will retry registering")),
    logs.join("\n"),
  );
  o.up();
  await started;
  assert.ok(await mem.get(`${R}nodes/h1`), "registered once the store is back");
  await eventually(() => assert.deepEqual(routes, [{ dst: "10.65.0.0/26", type: "blackhole" }]));
  assert.deepEqual(
    speaker!.peers.map((p) => p.address),
    ["10.99.0.12"],
  );

  o.down();
  await new Promise((r) => setTimeout(r, 50));
  const during = reconciles;
  // Meanwhile (through another path): a new node joins the mesh.
  await mem.put(`${R}nodes/h3`, JSON.stringify({ spec: { bgp: { ipv4Address: "10.99.0.13/24" } } }));
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(routes, [{ dst: "10.65.0.0/26", type: "blackhole" }], "routes untouched during the outage");
  assert.deepEqual(
    speaker!.peers.map((p) => p.address),
    ["10.99.0.12"],
    "peers untouched during the outage",
  );
  assert.equal(reconciles, during, "nothing re-programmed from a half-known state");
  o.up();
  await eventually(() => assert.deepEqual(speaker!.peers.map((p) => p.address).sort(), ["10.99.0.12", "10.99.0.13"]), 500);
  assert.deepEqual(routes, [{ dst: "10.65.0.0/26", type: "blackhole" }]);
  await agent.stop();
  clearInterval(keep);
});
