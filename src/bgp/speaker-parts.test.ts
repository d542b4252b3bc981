// The speaker's pure parts: what puts two sessions in one update group (outbound.ts), our
// next-hop-self address per family, one UPDATE through import policy into the RIB with refused
// paths counted (peer-import.ts), and the views: communities as text, a peer's status and why it
// is down (speaker-views.ts).
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseIP } from "../net/ip.js";
import { parsePrefix } from "../net/prefix.js";
import { buildOpen, negotiate } from "./negotiate.js";
import { groupKey, selfNextHops } from "./outbound.js";
import { importInto } from "./peer-import.js";
import { ACCEPT_ALL, compilePolicy } from "./policy.js";
import { Rib, type RibChange } from "./rib/rib.js";
import type { PeerInfo, PrefixKey } from "./rib/types.js";
import type { PeerConfig } from "./peer-config.js";
import { formatCommunity, parseCommunity, peerStatusOf, routeViews, type PeerFacts } from "./speaker-views.js";
import type { UpdateMessage } from "./wire/update.js";

const AS = 64512;
const open = (addPath: 0 | 1 | 3) => buildOpen({ asNumber: AS, routerId: "10.0.0.2", holdTime: 90, families: ["ipv4", "ipv6"], addPath });
const n = negotiate(open(3), open(3));
const cfg = (extra: Partial<PeerConfig> = {}): PeerConfig => ({ address: "10.0.0.2", asNumber: AS, ...extra });

test("update group key: same treatment, same group; policy, role, next-hop mode, address or encoding apart", () => {
  const self = selfNextHops({ config: cfg(), localAddress: parseIP("10.0.0.1") });
  const key = (c: PeerConfig, ng = n, ibgp = true, s = self) => groupKey({ config: c, negotiated: ng, ibgp }, s);
  const base = key(cfg());
  assert.equal(key(cfg({ address: "10.0.0.3", holdTime: 30, import: [{ action: "reject" }] })), base, "another peer, other inbound settings");
  for (const other of [
    key(cfg({ export: [{ action: "accept" }] })),
    key(cfg({ routeReflectorClient: true })),
    key(cfg({ nextHopSelf: true })),
    key(cfg(), n, false),
    key(cfg(), negotiate(open(0), open(0))),
    key(cfg(), n, true, selfNextHops({ config: cfg(), localAddress: parseIP("10.0.0.9") })),
  ])
    assert.notEqual(other, base);
});

test("next-hop self: the connection's address for its family, the configured ones otherwise", () => {
  const v = (c: PeerConfig, la?: string) =>
    Object.fromEntries(Object.entries(selfNextHops({ config: c, localAddress: la ? parseIP(la) : undefined })).map(([k, ip]) => [k, ip!.toString()]));
  assert.deepEqual(v(cfg(), "10.0.0.1"), { ipv4: "10.0.0.1" });
  assert.deepEqual(v(cfg({ localIPv6: "fd00::1" }), "10.0.0.1"), { ipv4: "10.0.0.1", ipv6: "fd00::1" });
  assert.deepEqual(v(cfg({ localAddress: "10.0.0.5" }), "fd00::7"), { ipv4: "10.0.0.5", ipv6: "fd00::7" });
  assert.deepEqual(v(cfg()), {});
});

test("import: policy refusals leave the RIB as withdrawals and count as received; set actions applied", () => {
  const rib = new Rib(AS);
  const info: PeerInfo = { id: "10.0.0.2", address: parseIP("10.0.0.2"), asNumber: 65001, routerId: "10.0.0.2", ibgp: false, rrClient: false };
  const pol = compilePolicy([{ match: { prefix: [{ prefix: "10.0.0.0/8", le: 32 }] }, action: "accept", set: { localPref: 300 } }], false);
  const peer = { info, importPolicy: pol, rejected: new Set<string>() };
  const u = (prefixes: string[], withdrawn: string[] = []): UpdateMessage => ({
    type: "update",
    withdrawn: withdrawn.map((p) => ({ prefix: parsePrefix(p), pathId: 0 })),
    attributes: prefixes.length ? { origin: 0, asPath: [{ type: 2, asns: [65001] }], nextHop: parseIP("10.0.0.2") } : {},
    nlri: prefixes.map((p) => ({ prefix: parsePrefix(p), pathId: 0 })),
  });
  const changes = new Map<PrefixKey, RibChange>();
  const r = importInto(rib, u(["10.1.0.0/24", "192.168.0.0/24"]), peer, { asNumber: AS, routerId: "10.0.0.1", clusterId: "10.0.0.1" }, 0, changes);
  assert.equal(r.treatAsWithdraw, undefined);
  assert.equal(r.family, "ipv4");
  assert.deepEqual(
    routeViews(rib).map((v) => [v.prefix, v.paths[0]!.localPref]),
    [["10.1.0.0/24", 300]],
  );
  assert.equal(peer.rejected.size, 1, "192.168.0.0/24 refused, counted");
  importInto(rib, u([], ["192.168.0.0/24"]), peer, { asNumber: AS, routerId: "10.0.0.1", clusterId: "10.0.0.1" }, 0, changes);
  assert.equal(peer.rejected.size, 0, "a withdrawal forgets the refusal");
  // our own AS in the path: a loop, refused on import
  const loop = { ...u(["10.2.0.0/24"]), attributes: { origin: 0, asPath: [{ type: 2 as const, asns: [65001, AS] }], nextHop: parseIP("10.0.0.2") } };
  importInto(rib, loop, { ...peer, importPolicy: ACCEPT_ALL }, { asNumber: AS, routerId: "10.0.0.1", clusterId: "10.0.0.1" }, 0, changes);
  assert.deepEqual(
    routeViews(rib).map((v) => v.prefix),
    ["10.1.0.0/24"],
  );
});

test("communities as text, both ways; a bad one refused with BGP_BAD_COMMUNITY", () => {
  assert.equal(parseCommunity("64512:7"), 64512 * 65536 + 7);
  assert.equal(parseCommunity("NO-EXPORT"), 0xffffff01);
  assert.equal(formatCommunity(parseCommunity("65535:65535")), "65535:65535");
  assert.throws(() => parseCommunity("65536:1"), { code: "BGP_BAD_COMMUNITY" });
});

test("peer status: counts, uptime, and the reason in words when down (the maximum-prefix guard first)", () => {
  const facts = (over: Partial<PeerFacts["session"]> = {}, limitReason?: string): PeerFacts => ({
    config: cfg(),
    session: {
      state: "Established",
      established: true,
      establishedAt: 1_000,
      lastError: undefined,
      counters: { updatesReceived: 3, updatesSent: 4, flaps: 1 },
      ...over,
    },
    accepted: 5,
    rejected: 2,
    advertised: 7,
    updateGroup: 1,
    limitReason,
  });
  assert.deepEqual(peerStatusOf(facts(), 62_000), {
    address: "10.0.0.2",
    asNumber: AS,
    state: "Established",
    established: true,
    prefixesReceived: 7,
    prefixesAccepted: 5,
    prefixesAdvertised: 7,
    updatesReceived: 3,
    updatesSent: 4,
    flaps: 1,
    updateGroup: 1,
    uptimeSeconds: 61,
  });
  const down = { state: "Idle", established: false, establishedAt: undefined, lastError: "received NOTIFICATION 6/4" };
  assert.equal(peerStatusOf(facts(down), 0).reason, "received NOTIFICATION 6/4 (Cease / Administrative Reset)");
  assert.equal(peerStatusOf(facts(down, "maximum prefixes reached"), 0).reason, "maximum prefixes reached");
  assert.equal(peerStatusOf(facts({ state: "Active", established: false, establishedAt: undefined }), 0).reason, undefined);
});
