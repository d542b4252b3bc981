// Interop: a real BIRD 2 and `tabby bgp run` in two network namespaces joined by a veth pair
// (test/bird-tabby-pair.ts). BIRD (AS 65001 on 10.98.0.1 / fd98::1) peers with tabby (AS 65002
// on 10.98.0.2 / fd98::2) over eBGP on IPv4 (carrying IPv4 and IPv6 with MP-BGP) and over iBGP on
// IPv6 (IPv6 only). Checks: sessions establish, routes flow both ways for both families,
// withdrawals on either side propagate, and stopping tabby (Cease) removes its routes from BIRD.
// Needs root and bird2.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { queryControl } from "../src/bgp/control.js";
import { birdTabbyPair, waitFor } from "./bird-tabby-pair.js";
import type { PeerStatus, RouteView } from "../src/bgp/speaker.js";

const pair = birdTabbyPair("ttbg");
const { canRun, dir, control, birdc } = pair;

function birdConf(withV4Route: boolean): string {
  return `router id 10.98.0.1;
log "${join(dir, "bird.log")}" all;
protocol device { scan time 1; }
protocol direct { ipv4; ipv6; }
protocol static s4 { ipv4; ${withV4Route ? "route 10.10.0.0/24 blackhole;" : ""} route 10.11.0.0/24 blackhole; }
protocol static s6 { ipv6; route fd10::/64 blackhole; }
protocol bgp ebgp1 {
  local 10.98.0.1 as 65001; neighbor 10.98.0.2 as 65002;
  hold time 9; connect retry time 1; connect delay time 1; error wait time 1, 5;
  ipv4 { import all; export where proto = "s4"; };
  ipv6 { import all; export where proto = "s6"; next hop address fd98::1; };
}
protocol bgp ibgp1 {
  local fd98::1 as 65002; neighbor fd98::2 as 65002;
  hold time 9; connect retry time 1; connect delay time 1; error wait time 1, 5;
  ipv6 { import all; export where proto = "s6"; add paths on; };
}
`;
}

function tabbyConf(announceV4: boolean, exportToEbgp = "[{ action: accept }]"): string {
  return `routerId: 10.98.0.2
asNumber: 65002
listen: { address: "::", port: 179 }
control: ${control}
peers:
  - { address: 10.98.0.1, asNumber: 65001, holdTime: 9, connectRetry: 1, localAddress: 10.98.0.2, localIPv6: "fd98::2", import: [{ action: accept }], export: ${exportToEbgp} }
  - { address: "fd98::1", asNumber: 65002, holdTime: 9, connectRetry: 1, localAddress: "fd98::2", families: [ipv6] }
announce:
${announceV4 ? '  - { prefix: 10.20.0.0/24, communities: ["65002:20"] }\n' : ""}  - { prefix: "fd20::/64" }
`;
}

before(() => pair.setUp());
after(() => pair.tearDown());

test("tabby and BIRD 2 exchange IPv4 and IPv6 routes over eBGP and iBGP", { skip: !canRun && "needs root and bird2", timeout: 120000 }, async () => {
  const tabbyConfPath = join(dir, "tabby.yaml");
  pair.start(birdConf(true), tabbyConf(true));
  try {
    const peers = async () => (await queryControl(control, { op: "peers" })) as PeerStatus[];
    const routes = async (family: "ipv4" | "ipv6") => (await queryControl(control, { op: "routes", family })) as RouteView[];
    await waitFor("both sessions established at tabby", async () => (await peers()).every((p) => p.established));
    await waitFor("both sessions established at BIRD", () => (birdc("show", "protocols").match(/Established/g) ?? []).length === 2);
    // ADD-PATH (both directions) negotiated on the iBGP session
    assert.match(birdc("show", "protocols", "all", "ibgp1"), /ADD-PATH\s*\n\s*RX: ipv6\s*\n\s*TX: ipv6/);

    // BIRD → tabby
    await waitFor("tabby learns BIRD's routes", async () => {
      const v4 = await routes("ipv4");
      const v6 = await routes("ipv6");
      return v4.some((r) => r.prefix === "10.10.0.0/24") && v6.some((r) => r.prefix === "fd10::/64" && r.paths.length === 2);
    });
    const r4 = (await routes("ipv4")).find((r) => r.prefix === "10.10.0.0/24")!;
    assert.equal(r4.paths[0]!.nextHop, "10.98.0.1");
    assert.deepEqual(r4.paths[0]!.asPath, [65001]);
    const r6 = (await routes("ipv6")).find((r) => r.prefix === "fd10::/64")!;
    const best6 = r6.paths.find((p) => p.best)!;
    assert.equal(best6.peer, "fd98::1", "the iBGP path (shorter AS_PATH) wins");
    assert.equal(best6.nextHop, "fd98::1");
    assert.equal(best6.localPref, 100);

    // tabby → BIRD
    await waitFor("BIRD learns tabby's routes", () => {
      const e = birdc("show", "route", "all", "protocol", "ebgp1");
      const i = birdc("show", "route", "all", "protocol", "ibgp1");
      return e.includes("10.20.0.0/24") && e.includes("fd20::/64") && i.includes("fd20::/64");
    });
    const e = birdc("show", "route", "all", "protocol", "ebgp1");
    assert.match(e, /BGP\.as_path: 65002/);
    assert.match(e, /BGP\.next_hop: 10\.98\.0\.2/);
    assert.match(e, /BGP\.next_hop: fd98::2/);
    assert.match(e, /BGP\.community: \(65002,20\)/);
    const i = birdc("show", "route", "all", "protocol", "ibgp1");
    assert.match(i, /BGP\.local_pref: 100/);
    assert.match(i, /BGP\.as_path: *\n/);

    // withdrawal from tabby (config reload) reaches BIRD
    writeFileSync(tabbyConfPath, tabbyConf(false));
    pair.signalTabby("SIGHUP");
    await waitFor("BIRD drops 10.20.0.0/24", () => !birdc("show", "route", "protocol", "ebgp1").includes("10.20.0.0/24"));
    assert.ok(birdc("show", "route", "protocol", "ebgp1").includes("fd20::/64"));

    // an export policy change (config reload) reaches BIRD without resetting either session:
    // tabby re-sends the eBGP peer's table between BoRR and EoRR (RFC 7313) and BIRD drops the rest
    const since = () =>
      birdc("show", "protocols")
        .split("\n")
        .filter((l) => /^[ei]bgp1\s/.test(l))
        .map((l) => l.trim().split(/\s+/).slice(0, 5).join(" "));
    const before = since();
    assert.equal(before.length, 2);
    writeFileSync(tabbyConfPath, tabbyConf(false, '[{ match: { prefix: [{ prefix: "fd20::/64" }] }, action: reject }, { action: accept }]'));
    pair.signalTabby("SIGHUP");
    await waitFor("BIRD's eBGP session drops fd20::/64", () => !birdc("show", "route", "protocol", "ebgp1").includes("fd20::/64"));
    assert.ok(birdc("show", "route", "protocol", "ibgp1").includes("fd20::/64"), "the iBGP peer's export is unchanged");
    assert.deepEqual(since(), before, "neither session went down (same state, same since)");
    assert.match(birdc("show", "protocols", "all", "ebgp1"), /Enhanced refresh/);

    // withdrawal from BIRD reaches tabby
    writeFileSync(join(dir, "bird.conf"), birdConf(false));
    birdc("configure");
    await waitFor("tabby drops 10.10.0.0/24", async () => !(await routes("ipv4")).some((r) => r.prefix === "10.10.0.0/24"));
    assert.ok((await routes("ipv4")).some((r) => r.prefix === "10.11.0.0/24"));

    // a clean stop of tabby removes its routes from BIRD
    await pair.stopTabby("SIGTERM");
    await waitFor("BIRD drops fd20::/64", () => !birdc("show", "route").includes("fd20::/64"));
    const prot = birdc("show", "protocols", "all", "ebgp1");
    assert.match(prot, /Administrative shutdown|Received: .*shutdown/i);
  } catch (err) {
    process.stderr.write(
      `--- tabby log ---\n${pair.tabbyLog()}\n--- bird log ---\n${existsSync(join(dir, "bird.log")) ? readFileSync(join(dir, "bird.log"), "utf8").slice(-4000) : ""}\n`,
    );
    throw err;
  }
});
