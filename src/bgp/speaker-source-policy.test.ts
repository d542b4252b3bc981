// Export policy by route source on live speakers (in-memory transport, fake clock), as the agent sets it (calc/
// bgp-peer-policy.ts): a route reflector accepts its own routes and iBGP-learned ones towards its
// clients, and only its own towards an eBGP peer. Reflection between clients still works (RFC
// 4456), an eBGP peer's route never reaches the clients, and the clients' routes never reach the
// eBGP peer.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Speaker, type PeerConfig } from "./speaker.js";
import type { PolicyTermConfig } from "./policy.js";
import { inMemory } from "../testkit/bgp/scripted-peer.js";

const PORT = 179;
const AS = 64512;
const EXT = 65001;

const m = inMemory();
const waitFor = (what: string, cond: () => boolean) => m.wait(what, cond);

const sp = (n: number, as = AS) =>
  new Speaker({ clock: m.clock, network: m.network, routerId: `10.0.0.${n}`, asNumber: as, listen: { address: `127.0.0.${n}`, port: PORT } });
const cfg = (self: number, other: number, as: number, extra: Partial<PeerConfig> = {}): PeerConfig => ({
  address: `127.0.0.${other}`,
  asNumber: as,
  port: PORT,
  localAddress: `127.0.0.${self}`,
  holdTime: 9,
  connectRetry: 1,
  ...extra,
});
const toIbgp: PolicyTermConfig[] = [
  { match: { source: ["local"] }, action: "accept" },
  { match: { source: ["ibgp"] }, action: "accept" },
  { action: "reject" },
];
const toEbgp: PolicyTermConfig[] = [{ match: { source: ["local"] }, action: "accept" }, { action: "reject" }];
const all: PolicyTermConfig[] = [{ action: "accept" }];
const prefixes = (s: Speaker) => s.routes("ipv4").map((r) => r.prefix);

test("source-based export: reflection between clients works; eBGP routes stay off the clients, client routes off the eBGP peer", async () => {
  const rr = new Speaker({
    clock: m.clock,
    network: m.network,
    routerId: "10.0.0.40",
    asNumber: AS,
    clusterId: "1.1.1.1",
    listen: { address: "127.0.0.40", port: PORT },
  });
  const c1 = sp(41);
  const c2 = sp(42);
  const ext = sp(43, EXT);
  const speakers = [rr, c1, c2, ext];
  try {
    rr.setPeers([
      cfg(40, 41, AS, { routeReflectorClient: true, export: toIbgp, import: all }),
      cfg(40, 42, AS, { routeReflectorClient: true, export: toIbgp, import: all }),
      cfg(40, 43, EXT, { export: toEbgp, import: all }),
    ]);
    c1.setPeers([cfg(41, 40, AS, { passive: true })]);
    c2.setPeers([cfg(42, 40, AS, { passive: true })]);
    ext.setPeers([cfg(43, 40, AS, { passive: true, import: all, export: all })]);
    c1.setOriginated([{ prefix: "10.51.0.0/24" }]);
    ext.setOriginated([{ prefix: "10.90.0.0/24" }]);
    rr.setOriginated([{ prefix: "10.70.0.0/24" }]);
    await Promise.all(speakers.map((s) => s.start()));
    await waitFor(
      "the RR learns the client's and the eBGP peer's routes",
      () => prefixes(rr).includes("10.51.0.0/24") && prefixes(rr).includes("10.90.0.0/24"),
    );
    await waitFor("c2 gets c1's route reflected", () => prefixes(c2).includes("10.51.0.0/24") && prefixes(c2).includes("10.70.0.0/24"));
    await waitFor("ext gets the RR's own route", () => prefixes(ext).includes("10.70.0.0/24"));
    // a marker originated after both were learned: when it arrives, anything exported before it has too
    rr.setOriginated([{ prefix: "10.70.0.0/24" }, { prefix: "10.71.0.0/24" }]);
    await waitFor("the marker at c2 and ext", () => prefixes(c2).includes("10.71.0.0/24") && prefixes(ext).includes("10.71.0.0/24"));
    assert.ok(!prefixes(c2).includes("10.90.0.0/24"), "an eBGP-learned route is not passed to iBGP clients");
    assert.ok(!prefixes(c1).includes("10.90.0.0/24"));
    assert.deepEqual(prefixes(ext).sort(), ["10.70.0.0/24", "10.71.0.0/24", "10.90.0.0/24"], "only the RR's own routes (and ext's own) at ext");
  } finally {
    await Promise.all(speakers.map((s) => s.stop()));
  }
});
