// RIB: decision-process order (RFC 4271 §9.1.2.2 + RFC 4456 §9), the multipath set, Adj-RIB-In
// replacement and peer removal, import loop checks, export and reflection rules.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseIP } from "../../net/ip.js";
import { parsePrefix } from "../../net/prefix.js";
import { decide } from "./decision.js";
import { Rib, type RibChange } from "./rib.js";
import { exportRoute, type ExportTarget } from "./export.js";
import { importUpdate } from "./import.js";
import { prefixKey, type Path, type PeerInfo, type PrefixKey, type RouteAttrs } from "./types.js";
import type { AsPathSegment } from "../wire/attributes.js";

const LOCAL_AS = 64512;
const P = parsePrefix("10.1.0.0/24");
const K = prefixKey(P);

function peer(addr: string, as = LOCAL_AS, routerId = addr, rrClient = false): PeerInfo {
  return { id: addr, address: parseIP(addr), asNumber: as, routerId, ibgp: as === LOCAL_AS, rrClient };
}

function path(src: PeerInfo | undefined, over: Partial<RouteAttrs> = {}, nextHop = src?.id ?? "10.9.9.9"): Path {
  const asPath: AsPathSegment[] = src && !src.ibgp ? [{ type: 2, asns: [src.asNumber] }] : [];
  return {
    family: "ipv4",
    prefix: P,
    pathId: 0,
    attrs: { origin: 0, asPath, nextHop: parseIP(nextHop), communities: [], largeCommunities: [], clusterList: [], ...over },
    source: src,
    learnedAt: 0,
  };
}

const seq = (...asns: number[]): AsPathSegment[] => [{ type: 2, asns }];

/** Each pair: [winner, loser] differing in exactly the step under test (and losing every later step). */
test("decision steps in RFC order, each overriding all later ones", () => {
  const a = peer("10.0.0.1", LOCAL_AS, "1.1.1.1");
  const z = peer("10.0.0.9", LOCAL_AS, "9.9.9.9");
  const e1 = peer("10.0.1.1", 65001, "2.2.2.2");
  const e9 = peer("10.0.1.9", 65001, "8.8.8.8");
  const cases: [string, Path, Path][] = [
    ["1 LOCAL_PREF", path(z, { localPref: 200, asPath: seq(1, 2, 3), origin: 2, med: 50 }), path(a, { localPref: 100 })],
    ["2 AS_PATH length", path(z, { asPath: seq(1), origin: 2, med: 50 }), path(a, { asPath: seq(1, 2) })],
    [
      "2 AS_SET counts 1",
      path(z, {
        asPath: [
          { type: 2, asns: [1] },
          { type: 1, asns: [7, 8, 9] },
        ],
        origin: 2,
      }),
      path(a, { asPath: seq(1, 2, 3) }),
    ],
    ["3 ORIGIN", path(z, { origin: 0, med: 50 }), path(a, { origin: 1 })],
    ["4 MED (same neighbour AS)", path(z, { asPath: seq(65001), med: 5 }), path(a, { asPath: seq(65001), med: 10 })],
    ["4 missing MED is 0", path(z, { asPath: seq(65001) }), path(a, { asPath: seq(65001), med: 1 })],
    ["5 eBGP over iBGP", path(e9, {}), path(a, { asPath: seq(65001) })],
    ["7 lowest router id", path(e1), path(e9)],
    ["7 ORIGINATOR_ID replaces router id", path(z, { originatorId: "0.0.0.1" }), path(a)],
    ["8 shorter CLUSTER_LIST", path(z, { originatorId: "5.5.5.5", clusterList: [] }), path(a, { originatorId: "5.5.5.5", clusterList: ["1.1.1.1"] })],
    ["9 lowest peer address", path(peer("10.0.0.1", LOCAL_AS, "7.7.7.7")), path(peer("10.0.0.2", LOCAL_AS, "7.7.7.7"))],
  ];
  for (const [name, win, lose] of cases) {
    assert.equal(decide([lose, win], LOCAL_AS).best, win, name);
    assert.equal(decide([win, lose], LOCAL_AS).best, win, name);
  }
});

test("MED is not compared across neighbour ASes, and the result does not depend on order", () => {
  const x = path(peer("10.0.0.1", 65001, "3.3.3.3"), { asPath: seq(65001), med: 100 });
  const y = path(peer("10.0.0.2", 65002, "2.2.2.2"), { asPath: seq(65002), med: 0 });
  const w = path(peer("10.0.0.3", 65001, "1.1.1.1"), { asPath: seq(65001), med: 50 });
  // w beats x on MED; w and y are not MED-comparable; router id then picks w (1.1.1.1)
  for (const order of [
    [x, y, w],
    [y, w, x],
    [w, x, y],
    [x, w, y],
  ])
    assert.equal(decide(order, LOCAL_AS).best, w);
});

test("locally originated paths win", () => {
  const local = path(undefined);
  assert.equal(decide([path(peer("10.0.1.1", 65001)), local], LOCAL_AS).best, local);
});

test("multipath: paths equal through the IGP step form the ECMP set, best first", () => {
  const a = path(peer("10.0.0.1", LOCAL_AS, "1.1.1.1"));
  const b = path(peer("10.0.0.2", LOCAL_AS, "2.2.2.2"));
  const c = path(peer("10.0.0.3", LOCAL_AS, "3.3.3.3"));
  const worse = path(peer("10.0.0.4", LOCAL_AS, "0.0.0.1"), { localPref: 50 });
  const d = decide([c, worse, b, a], LOCAL_AS);
  assert.equal(d.best, a);
  assert.deepEqual(new Set(d.multipath), new Set([a, b, c]));
  assert.equal(d.multipath[0], a);
  // eBGP paths drop every iBGP path from the set
  const e = path(peer("10.0.1.1", 65001));
  const a2 = path(peer("10.0.0.1", LOCAL_AS, "1.1.1.1"), { asPath: seq(65001) });
  const b2 = path(peer("10.0.0.2", LOCAL_AS, "2.2.2.2"), { asPath: seq(65001) });
  assert.deepEqual(decide([a2, b2, e], LOCAL_AS).multipath, [e]);
});

test("Rib: implicit withdraw, explicit withdraw, peer removal report changes", () => {
  const rib = new Rib(LOCAL_AS);
  const a = peer("10.0.0.1", LOCAL_AS, "1.1.1.1");
  const b = peer("10.0.0.2", LOCAL_AS, "2.2.2.2");
  let ch = new Map<PrefixKey, RibChange>();
  rib.upsert(path(a), ch);
  rib.upsert(path(b), ch);
  assert.equal(ch.get(K)!.multipath.length, 2);
  ch = new Map();
  rib.upsert(path(a, { localPref: 50 }), ch); // replaces a's path
  assert.equal(ch.get(K)!.best!.source, b);
  assert.equal(ch.get(K)!.multipath.length, 1);
  assert.equal(rib.peerPaths("10.0.0.1").length, 1);
  ch = new Map();
  rib.removePeer("10.0.0.2", ch);
  assert.equal(ch.get(K)!.best!.source, a);
  ch = new Map();
  rib.remove("10.0.0.1", P, 0, ch);
  assert.equal(ch.get(K)!.best, undefined);
  assert.equal([...rib.all()].length, 0);
  ch = new Map();
  rib.remove("10.0.0.1", P, 0, ch); // nothing there: no change
  assert.equal(ch.size, 0);
});

const ID = { asNumber: LOCAL_AS, routerId: "10.255.0.1", clusterId: "10.255.0.1" };

test("import: loops and RFC 7606 treat-as-withdraw turn announcements into withdrawals", () => {
  const ibgp = peer("10.0.0.1");
  const ebgp = peer("10.0.1.1", 65001);
  const base = { type: "update" as const, withdrawn: [], nlri: [{ prefix: P, pathId: 0 }] };
  const attrs = { origin: 0, asPath: [] as AsPathSegment[], nextHop: parseIP("10.0.0.1") };
  assert.equal(importUpdate({ ...base, attributes: attrs }, ibgp, ID, 0).announce.length, 1);
  assert.equal(importUpdate({ ...base, attributes: { ...attrs, originatorId: "10.255.0.1" } }, ibgp, ID, 0).announce.length, 0);
  assert.equal(importUpdate({ ...base, attributes: { ...attrs, clusterList: ["1.1.1.1", "10.255.0.1"] } }, ibgp, ID, 0).withdraw.length, 1);
  assert.equal(importUpdate({ ...base, attributes: { ...attrs, asPath: seq(65001, LOCAL_AS) } }, ebgp, ID, 0).rejected, 1);
  // eBGP may not set LOCAL_PREF / ORIGINATOR_ID / CLUSTER_LIST
  const r = importUpdate(
    { ...base, attributes: { ...attrs, asPath: seq(65001), localPref: 999, originatorId: "1.2.3.4", clusterList: ["1.1.1.1"] } },
    ebgp,
    ID,
    0,
  );
  assert.equal(r.announce[0]!.attrs.localPref, undefined);
  assert.equal(r.announce[0]!.attrs.originatorId, undefined);
  assert.deepEqual(r.announce[0]!.attrs.clusterList, []);
});

function target(to: PeerInfo): ExportTarget {
  return { peer: to, localAs: LOCAL_AS, routerId: "10.255.0.1", clusterId: "10.255.0.1", selfNextHop: { ipv4: parseIP("10.255.0.1") } };
}

test("export: iBGP split horizon and RFC 4456 reflection rules", () => {
  const client1 = peer("10.0.0.1", LOCAL_AS, "1.1.1.1", true);
  const client2 = peer("10.0.0.2", LOCAL_AS, "2.2.2.2", true);
  const nonClient1 = peer("10.0.0.3", LOCAL_AS, "3.3.3.3");
  const nonClient2 = peer("10.0.0.4", LOCAL_AS, "4.4.4.4");
  const ext = peer("10.0.1.1", 65001);
  const fromClient = path(client1);
  const fromNonClient = path(nonClient1);
  const fromExt = path(ext);
  // from a client: to other clients and to non-clients, never back
  assert.ok(exportRoute(fromClient, target(client2)));
  assert.ok(exportRoute(fromClient, target(nonClient1)));
  assert.equal(exportRoute(fromClient, target(client1)), undefined);
  // from a non-client: to clients only
  assert.ok(exportRoute(fromNonClient, target(client1)));
  assert.equal(exportRoute(fromNonClient, target(nonClient2)), undefined);
  // from eBGP: to everyone
  for (const t of [client1, nonClient1]) assert.ok(exportRoute(fromExt, target(t)));
  // reflected: ORIGINATOR_ID = originator's router id, CLUSTER_LIST prepended; NH, LOCAL_PREF kept
  const out = exportRoute(path(client1, { localPref: 300, clusterList: ["9.9.9.9"] }), target(nonClient1))!;
  assert.equal(out.attrs.originatorId, "1.1.1.1");
  assert.deepEqual(out.attrs.clusterList, ["10.255.0.1", "9.9.9.9"]);
  assert.equal(out.nextHop.toString(), "10.0.0.1");
  assert.equal(out.attrs.localPref, 300);
  const kept = exportRoute(path(client1, { originatorId: "7.7.7.7" }), target(client2))!;
  assert.equal(kept.attrs.originatorId, "7.7.7.7");
});

test("export: eBGP prepends our AS, sets next-hop self, drops LOCAL_PREF, MED and RR attributes", () => {
  const client = peer("10.0.0.1", LOCAL_AS, "1.1.1.1", true);
  const ext = peer("10.0.1.1", 65001);
  const out = exportRoute(path(client, { localPref: 300, med: 7, originatorId: "1.1.1.1", clusterList: ["2.2.2.2"], asPath: seq(65010) }), target(ext))!;
  assert.deepEqual(out.attrs.asPath, seq(LOCAL_AS, 65010));
  assert.equal(out.nextHop.toString(), "10.255.0.1");
  assert.equal(out.attrs.localPref, undefined);
  assert.equal(out.attrs.med, undefined);
  assert.equal(out.attrs.originatorId, undefined);
  assert.equal(out.attrs.clusterList, undefined);
});

test("export: locally originated routes get next-hop self, empty AS_PATH and LOCAL_PREF 100 on iBGP", () => {
  const local: Path = { ...path(undefined), attrs: { origin: 0, asPath: [], communities: [], largeCommunities: [], clusterList: [] } };
  const out = exportRoute(local, target(peer("10.0.0.1")))!;
  assert.equal(out.nextHop.toString(), "10.255.0.1");
  assert.deepEqual(out.attrs.asPath, []);
  assert.equal(out.attrs.localPref, 100);
  assert.deepEqual(exportRoute(local, target(peer("10.0.1.1", 65001)))!.attrs.asPath, seq(LOCAL_AS));
});

test("export: NO_ADVERTISE goes nowhere, NO_EXPORT stays inside the AS", () => {
  const ext = peer("10.0.1.1", 65001);
  const client = peer("10.0.0.1", LOCAL_AS, "1.1.1.1", true);
  const noExport = path(ext, { communities: [0xffffff01] });
  assert.ok(exportRoute(noExport, target(client)));
  assert.equal(exportRoute(noExport, target(peer("10.0.2.1", 65002))), undefined);
  assert.equal(exportRoute(path(ext, { communities: [0xffffff02] }), target(client)), undefined);
});

test("prefixKey: distinct per prefix and family, numbers for IPv4 (top bit set too)", () => {
  const keys = ["0.0.0.0/0", "10.1.0.0/24", "10.1.0.0/25", "200.1.2.3/32", "255.255.255.255/32", "::/0", "2001:db8::/32", "2001:db8::/48", "fe80::1/128"].map(
    (s) => prefixKey(parsePrefix(s)),
  );
  assert.equal(new Set(keys).size, keys.length);
  assert.equal(prefixKey(parsePrefix("200.1.2.3/32")), 0xc8010203 * 64 + 32);
  assert.equal(typeof prefixKey(parsePrefix("2001:db8::/32")), "string");
});

test("PrefixMap: behaves as a Map over IPv4 and IPv6 keys", async () => {
  const { PrefixMap } = await import("./prefix-map.js");
  const m = new PrefixMap<string>();
  const ps = ["0.0.0.0/0", "10.0.0.0/8", "10.0.0.0/16", "200.1.2.3/32", "255.255.255.255/32", "2001:db8::/32"].map((s) => parsePrefix(s));
  ps.forEach((p, i) => m.set(prefixKey(p), `v${i}`));
  assert.equal(m.size, ps.length);
  ps.forEach((p, i) => assert.equal(m.get(prefixKey(p)), `v${i}`));
  assert.deepEqual(new Set([...m.entries()].map(([k]) => k)), new Set(ps.map(prefixKey)));
  m.set(prefixKey(ps[1]!), "again");
  assert.equal(m.size, ps.length);
  assert.equal(m.delete(prefixKey(ps[3]!)), true);
  assert.equal(m.delete(prefixKey(ps[3]!)), false);
  m.clearKind("ipv4");
  assert.deepEqual([...m.values()], ["v5"]);
  assert.equal(m.size, 1);
});

test("Rib: one path stored alone, several as a set, and back; change records and entries read the same", async () => {
  const { RibPath, prefixFromKey } = await import("./types.js");
  const rib = new Rib(LOCAL_AS);
  const a = peer("10.0.0.1", LOCAL_AS, "1.1.1.1");
  const b = peer("10.0.0.2", LOCAL_AS, "2.2.2.2");
  const attrs = (nh: string): RouteAttrs => ({ origin: 0, asPath: [], nextHop: parseIP(nh), communities: [], largeCommunities: [], clusterList: [] });
  const pa = new RibPath(K, 0, attrs("10.0.0.1"), a, 1_700_000_000_123);
  assert.equal(pa.family, "ipv4");
  assert.equal(pa.prefix.toString(), "10.1.0.0/24");
  assert.equal(pa.learnedAt, 1_700_000_000_000);
  let ch = new Map<PrefixKey, RibChange>();
  rib.upsert(pa, ch);
  assert.deepEqual(
    [ch.get(K)!.prefix.toString(), ch.get(K)!.family, ch.get(K)!.oldBest, ch.get(K)!.best, ch.get(K)!.multipath],
    ["10.1.0.0/24", "ipv4", undefined, pa, [pa]],
  );
  // the same path again: no change
  ch = new Map();
  rib.upsert(pa, ch);
  assert.equal(ch.size, 0);
  // a second path: ECMP set of two, best by router id
  const pb = new RibPath(K, 0, attrs("10.0.0.2"), b, 0);
  ch = new Map();
  rib.upsert(pb, ch);
  assert.deepEqual([ch.get(K)!.oldBest, ch.get(K)!.best, ch.get(K)!.multipath], [pa, pa, [pa, pb]]);
  const e = rib.entry(K)!;
  assert.deepEqual([e.prefix.toString(), e.paths, e.decision.best, e.decision.multipath], ["10.1.0.0/24", [pa, pb], pa, [pa, pb]]);
  // back to one: b's path alone
  ch = new Map();
  rib.remove("10.0.0.1", P, 0, ch);
  assert.deepEqual([ch.get(K)!.oldBest, ch.get(K)!.best, ch.get(K)!.multipath], [pa, pb, [pb]]);
  assert.deepEqual(rib.entry(K)!.paths, [pb]);
  assert.deepEqual(
    [...rib.all("ipv4")].map((x) => x.key),
    [K],
  );
  assert.deepEqual([...rib.all("ipv6")], []);
  // graceful restart marks on the stored path, and flushing them
  ch = new Map();
  rib.markStale("10.0.0.2", new Set(["ipv4"]), ch);
  // b's lone path was stored packed (its class index): marking unpacks it, the mark is on the stored path
  assert.equal(rib.entry(K)!.paths[0]!.stale, true);
  assert.deepEqual(rib.entry(K)!.decision.best, Object.assign(new RibPath(K, 0, pb.attrs, b, 0), { stale: true }));
  assert.equal(ch.size, 0);
  rib.flushStale("10.0.0.2", "ipv4", ch);
  assert.deepEqual([ch.get(K)!.best, rib.entry(K), rib.peerPathCount("10.0.0.2")], [undefined, undefined, 0]);
  // prefixFromKey is prefixKey's inverse, both families
  for (const s of ["0.0.0.0/0", "10.1.0.0/24", "255.255.255.255/32", "::/0", "2001:db8::/32", "fd00:1:2:3:4:5:6:7/128"]) {
    assert.equal(prefixFromKey(prefixKey(parsePrefix(s))).toString(), s);
  }
});

test("Rib: lone learned paths packed as a class index per UPDATE; read back equal, freed with their last prefix", async () => {
  const { RibPath } = await import("./types.js");
  const rib = new Rib(LOCAL_AS);
  const a = peer("10.0.0.1", LOCAL_AS, "1.1.1.1");
  const b = peer("10.0.0.2", LOCAL_AS, "2.2.2.2");
  const attrs = (nh: string): RouteAttrs => ({ origin: 0, asPath: [], nextHop: parseIP(nh), communities: [], largeCommunities: [], clusterList: [] });
  const one = attrs("10.0.0.1");
  const keys = ["10.2.0.0/24", "10.2.1.0/24", "10.2.2.0/24"].map((s) => prefixKey(parsePrefix(s)));
  const ch = new Map<PrefixKey, RibChange>();
  // one UPDATE: same attributes object, same second → one class
  for (const k of keys) rib.upsert(new RibPath(k, 0, one, a, 5_000), ch);
  assert.equal(rib.classCount, 1);
  assert.equal(ch.size, 3);
  assert.deepEqual(ch.get(keys[0]!)!.best, new RibPath(keys[0]!, 0, one, a, 5_000));
  const e = rib.entry(keys[1]!)!;
  assert.equal(e.decision.best, e.paths[0]);
  assert.deepEqual([e.paths[0]!.prefix.toString(), e.paths[0]!.source, e.paths[0]!.attrs, e.paths[0]!.learnedAt], ["10.2.1.0/24", a, one, 5_000]);
  // path id ≠ 0 is not packed; a second peer makes a set (the packed path unpacked into it)
  const b1 = new RibPath(keys[0]!, 0, attrs("10.0.0.2"), b, 6_000);
  const c2 = new Map<PrefixKey, RibChange>();
  rib.upsert(b1, c2);
  assert.deepEqual(
    rib.entry(keys[0]!)!.paths.map((p) => p.source!.id),
    ["10.0.0.1", "10.0.0.2"],
  );
  assert.equal(rib.peerPathCount("10.0.0.1"), 3);
  assert.deepEqual(
    rib
      .peerPaths("10.0.0.1")
      .map((p) => p.prefix.toString())
      .sort(),
    ["10.2.0.0/24", "10.2.1.0/24", "10.2.2.0/24"],
  );
  // withdrawals: the class goes with its last packed prefix
  rib.remove("10.0.0.1", parsePrefix("10.2.1.0/24"), 0, c2);
  rib.remove("10.0.0.1", parsePrefix("10.2.1.0/24"), 7, c2);
  assert.equal(rib.classCount, 1); // a's class, for 10.2.2.0/24 (10.2.0.0/24's path is in the set)
  rib.removePeer("10.0.0.1", c2);
  assert.equal(rib.peerPathCount("10.0.0.1"), 0);
  assert.deepEqual(
    [...rib.all()].map((x) => x.paths.map((p) => p.source!.id)),
    [["10.0.0.2"]],
  );
  assert.equal(rib.classCount, 1); // b's path alone again, packed
  rib.removePeer("10.0.0.2", c2);
  assert.equal(rib.classCount, 0);
});
