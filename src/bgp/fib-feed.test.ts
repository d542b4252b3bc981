// The FIB feed and the route flow: Loc-RIB changes become one batch of FIB changes per turn
// (ECMP next-hop sets, sorted; local routes never installed; unchanged sets not repeated), and
// gathered UPDATE changes go out on the next turn or at once when the batch is full, never while
// selection is deferred.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseIP } from "../net/ip.js";
import { parsePrefix } from "../net/prefix.js";
import { FibFeed } from "./fib-feed.js";
import { PENDING_MAX, RouteFlow } from "./route-flow.js";
import { Rib, type RibChange } from "./rib/rib.js";
import type { Path, PeerInfo, PrefixKey } from "./rib/types.js";
import type { FibChange } from "./speaker-types.js";

const AS = 64512;
const peer = (addr: string): PeerInfo => ({ id: addr, address: parseIP(addr), asNumber: AS, routerId: addr, ibgp: true, rrClient: false });
const path = (prefix: string, src: PeerInfo | undefined, nextHop: string): Path => ({
  family: "ipv4",
  prefix: parsePrefix(prefix),
  pathId: 0,
  attrs: { origin: 0, asPath: [], nextHop: parseIP(nextHop), localPref: 100, communities: [], largeCommunities: [], clusterList: [] },
  source: src,
  learnedAt: 0,
});

/** A turn queue the test runs by hand. */
function turns(): { soon: (fn: () => void) => void; run: () => number } {
  let q: (() => void)[] = [];
  return {
    soon: (fn) => void q.push(fn),
    run: () => {
      const n = q.length;
      const now = q;
      q = [];
      for (const f of now) f();
      return n;
    },
  };
}

test("FIB feed: one batch per turn, ECMP sets sorted, local routes not installed, no repeats", () => {
  const t = turns();
  const feed = new FibFeed(t.soon, () => {});
  const got: FibChange[][] = [];
  feed.listen((c) => got.push(c));
  const rib = new Rib(AS);
  const changes = new Map<PrefixKey, RibChange>();
  rib.upsert(path("10.1.0.0/24", peer("10.0.0.3"), "10.0.0.3"), changes);
  rib.upsert(path("10.1.0.0/24", peer("10.0.0.2"), "10.0.0.2"), changes);
  rib.upsert(path("10.2.0.0/24", undefined, "10.0.0.1"), changes);
  for (const c of changes.values()) feed.change(c.key, c.prefix, c.best, c.multipath);
  assert.equal(got.length, 0, "nothing before the turn");
  assert.equal(t.run(), 1, "one flush scheduled");
  assert.deepEqual(got, [[{ prefix: "10.1.0.0/24", nextHops: ["10.0.0.2", "10.0.0.3"] }]]);
  // the same set again: nothing; one path gone: the smaller set
  for (const c of changes.values()) feed.change(c.key, c.prefix, c.best, c.multipath);
  assert.equal(t.run(), 0);
  const gone = new Map<PrefixKey, RibChange>();
  rib.remove("10.0.0.3", parsePrefix("10.1.0.0/24"), 0, gone);
  for (const c of gone.values()) feed.change(c.key, c.prefix, c.best, c.multipath);
  t.run();
  assert.deepEqual(got[1], [{ prefix: "10.1.0.0/24", nextHops: ["10.0.0.2"] }]);
});

test("FIB feed: a listener that throws is logged and the others still get the batch", () => {
  const t = turns();
  const logged: string[] = [];
  const feed = new FibFeed(t.soon, (_l, msg) => logged.push(msg));
  let seen = 0;
  feed.listen(() => {
    throw new Error("boom");
  });
  feed.listen(() => seen++);
  const p = path("10.1.0.0/24", peer("10.0.0.2"), "10.0.0.2");
  feed.change("x" as PrefixKey, p.prefix, p, [p]);
  feed.flush();
  assert.equal(seen, 1);
  assert.deepEqual(logged, ["FIB listener failed"]);
});

test("route flow: gathered changes go out on the next turn, at once when the batch is full, never while deferred", () => {
  const t = turns();
  const synced: number[] = [];
  const feed = new FibFeed(t.soon, () => {});
  let deferring = false;
  const flow = new RouteFlow({ sync: (c) => void synced.push(c.size) }, feed, t.soon, () => deferring);
  const rib = new Rib(AS);
  const src = peer("10.0.0.2");
  rib.upsert(path("10.1.0.0/24", src, "10.0.0.2"), flow.gathering);
  flow.gathered();
  rib.upsert(path("10.1.1.0/24", src, "10.0.0.2"), flow.gathering);
  flow.gathered();
  assert.deepEqual(synced, []);
  t.run();
  assert.deepEqual(synced, [2], "both UPDATEs' changes in one sync");
  // a full batch goes at once
  for (let i = 0; i < PENDING_MAX; i++) rib.upsert(path(`10.2.${i >> 8}.${i & 255}/32`, src, "10.0.0.2"), flow.gathering);
  flow.gathered();
  assert.deepEqual(synced, [2, PENDING_MAX]);
  // what was gathered goes first when other changes are committed
  rib.upsert(path("10.3.0.0/24", src, "10.0.0.2"), flow.gathering);
  const local = new Map<PrefixKey, RibChange>();
  rib.upsert(path("10.4.0.0/24", undefined, "10.0.0.1"), local);
  flow.commit(local);
  assert.deepEqual(synced, [2, PENDING_MAX, 1, 1]);
  // deferred: dropped (the groups are built from the RIB when selection ends)
  deferring = true;
  rib.upsert(path("10.5.0.0/24", src, "10.0.0.2"), flow.gathering);
  flow.flush();
  assert.deepEqual(synced, [2, PENDING_MAX, 1, 1]);
  assert.equal(flow.gathering.size, 0);
});
