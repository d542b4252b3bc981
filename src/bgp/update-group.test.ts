// Update groups (update-group.ts): one table and one encoding for the members, exact bytes per
// member for split horizon (source and ORIGINATOR_ID exceptions), withdrawals, ADD-PATH, members
// joining late (the group's table, then End-of-RIB) and leaving, and "prefixes advertised".
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseIP } from "../net/ip.js";
import { parsePrefix } from "../net/prefix.js";
import { UpdateGroup, type ExportResult, type GroupMember, type Outgoing } from "./update-group.js";
import { exportRoute, type ExportTarget } from "./rib/export.js";
import { ipv4Frames, outRouteKey, packAnnouncements, packWithdrawals } from "./pack.js";
import fc from "fast-check";
import { encodeMessage } from "./wire/messages.js";
import { endOfRib, type UpdateMessage } from "./wire/update.js";
import { encodeAttributes, type CodecOptions, type PathAttributes } from "./wire/attributes.js";
import { hex } from "./wire/bytes.js";
import { prefixFromKey, prefixKey, type Path, type PeerInfo, type RouteAttrs } from "./rib/types.js";

const AS = 64512;
const CLUSTER = "9.9.9.9";
const PLAIN: CodecOptions = { as4: true, addPath: { ipv4: false, ipv6: false } };
const ADDPATH: CodecOptions = { as4: true, addPath: { ipv4: true, ipv6: false } };

function peer(id: string, routerId: string): PeerInfo {
  return { id, address: parseIP(id), asNumber: AS, routerId, ibgp: true, rrClient: true };
}
const A = peer("10.0.0.1", "1.1.1.1");
const B = peer("10.0.0.2", "2.2.2.2");
const C = peer("10.0.0.3", "3.3.3.3");
/** Not a member: a client whose routes carry C's router id as ORIGINATOR_ID (reflected elsewhere first). */
const D = peer("10.0.0.4", "4.4.4.4");
const member = (p: PeerInfo): GroupMember => ({ id: p.id, routerId: p.routerId });

/** A reflector-client group, exporting as tabby does (export.ts), one result per (attrs, source). */
function group(tx: CodecOptions): UpdateGroup<GroupMember> {
  const target: ExportTarget = {
    peer: { ...A, id: "group" },
    localAs: AS,
    routerId: "10.0.0.100",
    clusterId: CLUSTER,
    selfNextHop: { ipv4: parseIP("10.0.0.100") },
  };
  const memo = new Map<RouteAttrs, Map<string, ExportResult | undefined>>();
  const exporter = (p: Path): ExportResult | undefined => {
    let m = memo.get(p.attrs);
    if (!m) memo.set(p.attrs, (m = new Map()));
    const k = p.source?.id ?? "local";
    if (!m.has(k)) {
      const out = exportRoute(p, target);
      m.set(k, out && { out, key: outRouteKey(out, tx), from: p.source?.id, originatorId: out.attrs.originatorId });
    }
    return m.get(k);
  };
  const ids = new Map<string, number>();
  const pathId = (p: Path) => {
    const k = `${p.source?.id}#${p.pathId}`;
    if (!ids.has(k)) ids.set(k, ids.size + 1);
    return ids.get(k)!;
  };
  return new UpdateGroup<GroupMember>("k", ["ipv4"], tx, exporter, pathId);
}

const attrsCache = new Map<string, RouteAttrs>();
function path(src: PeerInfo | undefined, prefix: string, over: Partial<RouteAttrs> = {}): Path {
  const k = `${src?.id}|${JSON.stringify(over)}`;
  let attrs = attrsCache.get(k);
  if (!attrs) {
    attrs = {
      origin: 0,
      asPath: [],
      communities: [],
      largeCommunities: [],
      clusterList: [],
      nextHop: parseIP(src ? src.id.replace("10.0.0.", "10.9.0.") : "10.9.9.9"),
      ...over,
    };
    attrsCache.set(k, attrs);
  }
  return { family: "ipv4", prefix: parsePrefix(prefix), pathId: 0, attrs, source: src, learnedAt: 0 };
}
const change = (prefix: string, ...multipath: Path[]) => ({ key: prefixKey(parsePrefix(prefix)), family: "ipv4" as const, best: multipath[0], multipath });

/** The attributes tabby reflects a client's path with (RFC 4456 §8). */
function reflected(src: PeerInfo, originatorId = src.routerId, localPref = 100): PathAttributes {
  return { origin: 0, asPath: [], nextHop: parseIP(src.id.replace("10.0.0.", "10.9.0.")), localPref, originatorId, clusterList: [CLUSTER] };
}
function announce(attrs: PathAttributes, prefixes: (string | [string, number])[]): UpdateMessage {
  return {
    type: "update",
    withdrawn: [],
    attributes: attrs,
    nlri: prefixes.map((p) => (typeof p === "string" ? { prefix: parsePrefix(p), pathId: 0 } : { prefix: parsePrefix(p[0]), pathId: p[1] })),
  };
}
function withdraw(prefixes: (string | [string, number])[]): UpdateMessage {
  return {
    type: "update",
    withdrawn: prefixes.map((p) => (typeof p === "string" ? { prefix: parsePrefix(p), pathId: 0 } : { prefix: parsePrefix(p[0]), pathId: p[1] })),
    attributes: {},
    nlri: [],
  };
}

/** What each member receives from one sync, as hex frames. */
function delivered(g: UpdateGroup<GroupMember>, out: Outgoing<GroupMember>): Record<string, string[]> {
  const r: Record<string, string[]> = {};
  for (const m of g.members) {
    const frames = out.shared.filter((s) => !s.except.includes(m)).map((s) => hex(s.bytes));
    for (const f of out.own.get(m) ?? []) frames.push(hex(f));
    r[m.id] = frames;
  }
  return r;
}
const enc = (tx: CodecOptions, ...ms: UpdateMessage[]) => ms.map((m) => hex(encodeMessage(m, tx)));

test("update group: one encoding for all members, never back to the source (split horizon)", () => {
  const g = group(PLAIN);
  const [a, b, c] = [A, B, C].map(member) as [GroupMember, GroupMember, GroupMember];
  for (const m of [a, b, c]) g.join(m);
  const out = g.sync([change("10.1.0.0/24", path(A, "10.1.0.0/24")), change("10.1.1.0/24", path(A, "10.1.1.0/24"))]);
  // one shared message for both prefixes, skipping A
  assert.equal(out.shared.length, 1);
  assert.deepEqual(out.shared[0]!.except, [a]);
  assert.deepEqual(delivered(g, out), {
    "10.0.0.1": [],
    "10.0.0.2": enc(PLAIN, announce(reflected(A), ["10.1.0.0/24", "10.1.1.0/24"])),
    "10.0.0.3": enc(PLAIN, announce(reflected(A), ["10.1.0.0/24", "10.1.1.0/24"])),
  });
  assert.deepEqual([g.size, g.advertised(a), g.advertised(b), g.advertised(c)], [2, 0, 2, 2]);
});

test("update group: the best path moving to another member withdraws it there only; withdrawals reach every member that had the route", () => {
  const g = group(PLAIN);
  const [a, b, c] = [A, B, C].map(member) as [GroupMember, GroupMember, GroupMember];
  for (const m of [a, b, c]) g.join(m);
  const P = "10.1.0.0/24";
  g.sync([change(P, path(A, P))]);
  // B's path wins (higher LOCAL_PREF): A and C get it, B had A's route and gets a withdrawal
  const out = g.sync([change(P, path(B, P, { localPref: 200 }), path(A, P))]);
  assert.deepEqual(delivered(g, out), {
    "10.0.0.1": enc(PLAIN, announce(reflected(B, B.routerId, 200), [P])),
    "10.0.0.2": enc(PLAIN, withdraw([P])),
    "10.0.0.3": enc(PLAIN, announce(reflected(B, B.routerId, 200), [P])),
  });
  assert.deepEqual([g.advertised(a), g.advertised(b), g.advertised(c)], [1, 0, 1]);
  // gone from the Loc-RIB: the withdrawal goes to everyone but B, in one shared message
  const gone = g.sync([change(P)]);
  assert.equal(gone.shared.length, 1);
  assert.deepEqual(delivered(g, gone), { "10.0.0.1": enc(PLAIN, withdraw([P])), "10.0.0.2": [], "10.0.0.3": enc(PLAIN, withdraw([P])) });
  assert.deepEqual([g.size, g.advertised(a), g.advertised(b), g.advertised(c)], [0, 0, 0, 0]);
  // a local route goes to every member, and so does its withdrawal
  const L = "10.2.0.0/24";
  const local = path(undefined, L);
  const lattrs: PathAttributes = { origin: 0, asPath: [], nextHop: parseIP("10.9.9.9"), localPref: 100 };
  const all = (m: UpdateMessage) => ({ "10.0.0.1": enc(PLAIN, m), "10.0.0.2": enc(PLAIN, m), "10.0.0.3": enc(PLAIN, m) });
  assert.deepEqual(delivered(g, g.sync([change(L, local)])), all(announce(lattrs, [L])));
  assert.deepEqual(delivered(g, g.sync([change(L)])), all(withdraw([L])));
});

test("update group: a route whose ORIGINATOR_ID is a member's router id is not sent to that member", () => {
  const g = group(PLAIN);
  const [a, b, c] = [A, B, C].map(member) as [GroupMember, GroupMember, GroupMember];
  for (const m of [a, b, c]) g.join(m);
  const P = "10.4.0.0/24";
  const out = g.sync([change(P, path(D, P, { originatorId: C.routerId, clusterList: ["8.8.8.8"] }))]);
  const attrs: PathAttributes = { ...reflected(D, C.routerId), clusterList: [CLUSTER, "8.8.8.8"] };
  assert.deepEqual(delivered(g, out), { "10.0.0.1": enc(PLAIN, announce(attrs, [P])), "10.0.0.2": enc(PLAIN, announce(attrs, [P])), "10.0.0.3": [] });
  assert.deepEqual([g.advertised(a), g.advertised(c)], [1, 0]);
});

test("update group: the same bytes from another source only reach the members whose exception changed", () => {
  const g = group(PLAIN);
  const [a, b, c] = [A, B, C].map(member) as [GroupMember, GroupMember, GroupMember];
  for (const m of [a, b, c]) g.join(m);
  const P = "10.5.0.0/24";
  // A and D send the same route (reflected elsewhere first: ORIGINATOR_ID 7.7.7.7, same next hop)
  const over = { originatorId: "7.7.7.7", nextHop: parseIP("10.9.0.7") };
  const viaD = path(D, P, over);
  const viaA = path(A, P, over);
  const attrs: PathAttributes = { ...reflected(A, "7.7.7.7"), nextHop: parseIP("10.9.0.7") };
  assert.deepEqual(delivered(g, g.sync([change(P, viaD)])), {
    "10.0.0.1": enc(PLAIN, announce(attrs, [P])),
    "10.0.0.2": enc(PLAIN, announce(attrs, [P])),
    "10.0.0.3": enc(PLAIN, announce(attrs, [P])),
  });
  // best moves to A's copy: the bytes are the same, only A must lose it
  assert.deepEqual(delivered(g, g.sync([change(P, viaA, viaD)])), { "10.0.0.1": enc(PLAIN, withdraw([P])), "10.0.0.2": [], "10.0.0.3": [] });
  assert.deepEqual([g.advertised(a), g.advertised(b)], [0, 1]);
  // and back to D's: only A hears of it again
  assert.deepEqual(delivered(g, g.sync([change(P, viaD)])), { "10.0.0.1": enc(PLAIN, announce(attrs, [P])), "10.0.0.2": [], "10.0.0.3": [] });
  assert.deepEqual([g.advertised(a), g.advertised(b)], [1, 1]);
});

test("update group: a late joiner gets the group's table without its own routes, then End-of-RIB; a leaver hears nothing more", () => {
  const g = group(PLAIN);
  const [a, b, c] = [A, B, C].map(member) as [GroupMember, GroupMember, GroupMember];
  g.join(a);
  g.join(b);
  const rib = [change("10.1.0.0/24", path(A, "10.1.0.0/24")), change("10.3.0.0/24", path(C, "10.3.0.0/24")), change("10.3.1.0/24", path(C, "10.3.1.0/24"))];
  g.sync(rib);
  assert.deepEqual([g.advertised(a), g.advertised(b)], [2, 3]);
  g.join(c);
  assert.deepEqual(g.dump(c, "ipv4").map(hex), enc(PLAIN, announce(reflected(A), ["10.1.0.0/24"]), endOfRib("ipv4")));
  assert.equal(g.advertised(c), 1);
  // a route refresh is the same dump again
  assert.deepEqual(g.dump(c, "ipv4").map(hex), enc(PLAIN, announce(reflected(A), ["10.1.0.0/24"]), endOfRib("ipv4")));
  g.leave(b);
  const out = g.sync([change("10.1.0.0/24")]);
  assert.deepEqual(delivered(g, out), { "10.0.0.1": [], "10.0.0.3": enc(PLAIN, withdraw(["10.1.0.0/24"])) });
  assert.equal(g.advertised(b), 0);
  // a group with no members keeps its table (filled before the first member joins) and sends nothing
  const empty = group(PLAIN);
  const filled = empty.sync(rib);
  assert.deepEqual([filled.shared.length, filled.own.size, empty.size], [0, 0, 3]);
});

test("update group with ADD-PATH: each member gets every path but its own, under the group's path ids", () => {
  const g = group(ADDPATH);
  const [a, b, c] = [A, B, C].map(member) as [GroupMember, GroupMember, GroupMember];
  for (const m of [a, b, c]) g.join(m);
  const P = "10.52.0.0/24";
  const pa = path(A, P);
  const pb = path(B, P);
  // path ids: A's path 1, B's path 2 (first come)
  const out = g.sync([change(P, pa, pb)]);
  assert.deepEqual(delivered(g, out), {
    "10.0.0.1": enc(ADDPATH, announce(reflected(B), [[P, 2]])),
    "10.0.0.2": enc(ADDPATH, announce(reflected(A), [[P, 1]])),
    "10.0.0.3": enc(ADDPATH, announce(reflected(A), [[P, 1]]), announce(reflected(B), [[P, 2]])),
  });
  assert.deepEqual([g.advertised(a), g.advertised(b), g.advertised(c)], [1, 1, 1]);
  // A's path goes: its id is withdrawn where it was sent (B, C), nothing to A
  const out2 = g.sync([change(P, pb)]);
  assert.deepEqual(delivered(g, out2), { "10.0.0.1": [], "10.0.0.2": enc(ADDPATH, withdraw([[P, 1]])), "10.0.0.3": enc(ADDPATH, withdraw([[P, 1]])) });
  assert.deepEqual([g.advertised(a), g.advertised(b), g.advertised(c)], [1, 0, 1]);
  // a late joiner with the same router id as nobody gets B's path; B's own dump is empty but for End-of-RIB
  const d = member(D);
  g.join(d);
  assert.deepEqual(g.dump(d, "ipv4").map(hex), enc(ADDPATH, announce(reflected(B), [[P, 2]]), endOfRib("ipv4")));
  assert.deepEqual(g.dump(b, "ipv4").map(hex), enc(ADDPATH, endOfRib("ipv4")));
  const out3 = g.sync([change(P)]);
  assert.deepEqual(delivered(g, out3), {
    "10.0.0.1": enc(ADDPATH, withdraw([[P, 2]])),
    "10.0.0.2": [],
    "10.0.0.3": enc(ADDPATH, withdraw([[P, 2]])),
    "10.0.0.4": enc(ADDPATH, withdraw([[P, 2]])),
  });
});

test("update group over IPv6 (MP_REACH / MP_UNREACH through the general encoder): split horizon and withdrawal", () => {
  const tx: CodecOptions = PLAIN;
  const target: ExportTarget = { peer: { ...A, id: "group" }, localAs: AS, routerId: "10.0.0.100", clusterId: CLUSTER, selfNextHop: {} };
  const g = new UpdateGroup<GroupMember>(
    "k6",
    ["ipv4", "ipv6"],
    tx,
    (p) => {
      const out = exportRoute(p, target);
      return out && { out, key: outRouteKey(out, tx), from: p.source?.id, originatorId: out.attrs.originatorId };
    },
    () => 0,
  );
  const [a, b] = [A, B].map(member) as [GroupMember, GroupMember];
  g.join(a);
  g.join(b);
  const P6 = "fd00:51::/64";
  const attrs: RouteAttrs = { origin: 0, asPath: [], communities: [], largeCommunities: [], clusterList: [], nextHop: parseIP("fd00::1") };
  const p6: Path = { family: "ipv6", prefix: parsePrefix(P6), pathId: 0, attrs, source: A, learnedAt: 0 };
  const ch = (...mp: Path[]) => ({ key: prefixKey(parsePrefix(P6)), family: "ipv6" as const, best: mp[0], multipath: mp });
  const nl = [{ prefix: parsePrefix(P6), pathId: 0 }];
  const ann: UpdateMessage = {
    type: "update",
    withdrawn: [],
    nlri: [],
    attributes: {
      origin: 0,
      asPath: [],
      localPref: 100,
      originatorId: A.routerId,
      clusterList: [CLUSTER],
      mpReach: { family: "ipv6", nextHop: parseIP("fd00::1"), nlri: nl },
    },
  };
  assert.deepEqual(delivered(g, g.sync([ch(p6)])), { "10.0.0.1": [], "10.0.0.2": enc(tx, ann) });
  assert.deepEqual(g.dump(b, "ipv6").map(hex), enc(tx, ann, endOfRib("ipv6")));
  assert.deepEqual(g.dump(a, "ipv6").map(hex), enc(tx, endOfRib("ipv6")));
  const wd: UpdateMessage = { type: "update", withdrawn: [], nlri: [], attributes: { mpUnreach: { family: "ipv6", withdrawn: nl } } };
  assert.deepEqual(delivered(g, g.sync([ch()])), { "10.0.0.1": [], "10.0.0.2": enc(tx, wd) });
});

test("ipv4Frames: the same bytes as packAnnouncements / packWithdrawals + encodeMessage (property)", () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 32 }), fc.integer({ min: 0, max: 0xffffffff })), {
        minLength: 1,
        maxLength: 1500,
      }),
      fc.boolean(),
      fc.array(fc.integer({ min: 0, max: 0xffffffff }), { maxLength: 40 }),
      (routes, addPath, communities) => {
        const tx: CodecOptions = { as4: true, addPath: { ipv4: addPath, ipv6: false } };
        // network form, one per prefix
        const seen = new Map<number, [number, number]>();
        for (const [a, len, id] of routes) {
          const net = len === 0 ? 0 : (a & (0xffffffff << (32 - len))) >>> 0;
          seen.set(net * 64 + len, [len, id]);
        }
        const keys = [...seen.keys()];
        const ids = [...seen.values()].map(([, id]) => id);
        const nlri = keys.map((k, i) => ({ prefix: prefixFromKey(k), pathId: addPath ? ids[i]! : 0 }));
        const out = { attrs: { origin: 0, asPath: [], communities, localPref: 100 }, nextHop: parseIP("10.9.0.1") };
        const want = packAnnouncements(
          "ipv4",
          nlri.map((n) => ({ ...n, out })),
          tx,
        ).map((u) => hex(encodeMessage(u, tx)));
        const attrs = encodeAttributes({ ...out.attrs, nextHop: out.nextHop }, tx);
        assert.deepEqual(ipv4Frames(attrs, keys, addPath ? ids : undefined).map(hex), want);
        const wantWd = packWithdrawals("ipv4", nlri, tx).map((u) => hex(encodeMessage(u, tx)));
        assert.deepEqual(ipv4Frames(undefined, keys, addPath ? ids : undefined).map(hex), wantWd);
      },
    ),
    { numRuns: 60 },
  );
});

test("update group: a joiner's dump reuses the last dump's frames only when its runs are the same (property: the same bytes as a group that never dumped)", () => {
  const sources = [A, B, C, undefined];
  const prefixes = ["10.1.0.0/24", "10.1.1.0/24", "10.1.2.0/24", "10.1.3.0/24", "10.1.4.0/25"];
  const op = fc.oneof(
    fc.record({ sync: fc.array(fc.tuple(fc.nat(prefixes.length - 1), fc.nat(sources.length)), { minLength: 1, maxLength: 4 }) }),
    fc.record({ dump: fc.nat(2) }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 12 }), (ops) => {
      const members = [A, B, C].map(member);
      const g = group(PLAIN);
      for (const m of members) g.join(m);
      const history: ReturnType<typeof change>[][] = [];
      for (const o of ops) {
        if ("sync" in o) {
          // source index = sources.length: the prefix is withdrawn
          const cs = o.sync.map(([p, s]) => (s === sources.length ? change(prefixes[p]!) : change(prefixes[p]!, path(sources[s], prefixes[p]!))));
          history.push(cs);
          g.sync(cs);
          continue;
        }
        const fresh = group(PLAIN);
        for (const m of members) fresh.join(m);
        for (const cs of history) fresh.sync(cs);
        const m = members[o.dump]!;
        const fm = [...fresh.members][o.dump]!;
        assert.deepEqual(g.dump(m, "ipv4").map(hex), fresh.dump(fm, "ipv4").map(hex));
        assert.equal(g.advertised(m), fresh.advertised(fm));
      }
    }),
    { numRuns: 300 },
  );
});
