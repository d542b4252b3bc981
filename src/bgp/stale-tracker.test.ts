// Stale routes: the graceful restart helper (RFC 4724 §4.2) keeps a lost peer's routes for its
// restart time, flushes families it no longer preserves when it is back, the rest at End-of-RIB
// or after STALE_PATH_TIME; enhanced route refresh (RFC 7313 §4) on receipt: BoRR marks stale,
// EoRR flushes what was not re-sent, an EoRR without BoRR is ignored, the wait is bounded.
import { test } from "node:test";
import assert from "node:assert/strict";
import { FakeClock } from "../clock.js";
import { parseIP } from "../net/ip.js";
import { parsePrefix } from "../net/prefix.js";
import { InboundRefresh } from "./inbound-refresh.js";
import { Rib, type RibChange } from "./rib/rib.js";
import type { Path, PeerInfo, PrefixKey } from "./rib/types.js";
import { STALE_PATH_TIME, StaleTracker, type StaleDeps } from "./stale-tracker.js";
import type { AddressFamily } from "./wire/constants.js";

const AS = 64512;
const PEER: PeerInfo = { id: "10.0.0.2", address: parseIP("10.0.0.2"), asNumber: AS, routerId: "10.0.0.2", ibgp: true, rrClient: false };
const path = (prefix: string): Path => {
  const p = parsePrefix(prefix);
  return {
    family: p.family === 4 ? "ipv4" : "ipv6",
    prefix: p,
    pathId: 0,
    attrs: {
      origin: 0,
      asPath: [],
      nextHop: parseIP(p.family === 4 ? "10.0.0.2" : "fd00::2"),
      localPref: 100,
      communities: [],
      largeCommunities: [],
      clusterList: [],
    },
    source: PEER,
    learnedAt: 0,
  };
};

function setup(prefixes: string[]): { rib: Rib; clock: FakeClock; deps: StaleDeps; committed: string[][]; held: () => string[] } {
  const rib = new Rib(AS);
  const clock = new FakeClock();
  const committed: string[][] = [];
  const deps: StaleDeps = {
    rib,
    clock,
    log: () => {},
    commit: (c) => void committed.push([...c.values()].filter((x) => !x.best).map((x) => x.prefix.toString())),
  };
  for (const p of prefixes) rib.upsert(path(p), new Map());
  const held = () => [...rib.all()].map((e) => e.prefix.toString()).sort();
  return { rib, clock, deps, committed, held };
}

const announce = (rib: Rib, p: string) => rib.upsert(path(p), new Map<PrefixKey, RibChange>());

test("GR helper: kept for the restart time, then flushed", () => {
  const { clock, deps, held } = setup(["10.1.0.0/24", "fd01::/64"]);
  const t = new StaleTracker(PEER.id, PEER.id, deps);
  t.keep(new Set<AddressFamily>(["ipv4", "ipv6"]), 120);
  assert.deepEqual(held(), ["10.1.0.0/24", "fd01::/64"]);
  clock.advance(119_000);
  assert.equal(held().length, 2);
  clock.advance(1_000);
  assert.deepEqual(held(), []);
  assert.equal(t.families.size, 0);
});

test("GR helper: back without preserving IPv6: IPv6 flushed at once, IPv4 at its End-of-RIB, only what was not re-sent", () => {
  const { clock, rib, deps, held } = setup(["10.1.0.0/24", "10.2.0.0/24", "fd01::/64"]);
  const t = new StaleTracker(PEER.id, PEER.id, deps);
  t.keep(new Set<AddressFamily>(["ipv4", "ipv6"]), 120);
  t.reestablished((f) => f === "ipv4");
  assert.deepEqual(held(), ["10.1.0.0/24", "10.2.0.0/24"]);
  announce(rib, "10.1.0.0/24");
  t.endOfRib("ipv6"); // not stale any more: nothing
  assert.deepEqual(held(), ["10.1.0.0/24", "10.2.0.0/24"]);
  t.endOfRib("ipv4");
  assert.deepEqual(held(), ["10.1.0.0/24"]);
  assert.equal(clock.pendingTimers(), 0, "timer gone once nothing is stale");
});

test("GR helper: back but no End-of-RIB: stale paths go after STALE_PATH_TIME", () => {
  const { clock, deps, held } = setup(["10.1.0.0/24"]);
  const t = new StaleTracker(PEER.id, PEER.id, deps);
  t.keep(new Set<AddressFamily>(["ipv4"]), 120);
  clock.advance(60_000);
  t.reestablished(() => true);
  clock.advance(120_000);
  assert.deepEqual(held(), ["10.1.0.0/24"], "the restart timer no longer applies");
  clock.advance(STALE_PATH_TIME * 1000 - 120_000);
  assert.deepEqual(held(), []);
});

test("enhanced route refresh: BoRR marks stale, EoRR flushes what was not re-sent; EoRR alone ignored; bounded wait", () => {
  const { clock, rib, deps, held } = setup(["10.1.0.0/24", "10.2.0.0/24"]);
  const r = new InboundRefresh(PEER.id, PEER.id, deps);
  r.end("ipv4");
  assert.equal(held().length, 2, "EoRR without BoRR");
  r.begin("ipv4");
  announce(rib, "10.2.0.0/24");
  r.end("ipv4");
  assert.deepEqual(held(), ["10.2.0.0/24"]);
  r.begin("ipv4");
  clock.advance(STALE_PATH_TIME * 1000);
  assert.deepEqual(held(), [], "no EoRR in time");
  r.begin("ipv4");
  r.clear();
  assert.equal(clock.pendingTimers(), 0);
});
