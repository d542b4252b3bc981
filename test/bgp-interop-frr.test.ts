// Interop with FRR 8.4 (Debian's `frr`): `tabby bgp run` in one namespace, two FRR bgpd
// processes in two others (bgpd -Z: no zebra; private config, pid file, log and vty socket
// directory; the system's /etc/frr and service are never touched). FRR "E" (AS 65001) peers over
// eBGP on IPv4 carrying IPv4 and IPv6; FRR "I" (AS 65002) over iBGP twice, on IPv4 for IPv4 and
// on IPv6 for IPv6. Checks: sessions,
// routes both ways with their attributes (communities, large communities, MED, LOCAL_PREF,
// AS_PATH, next hops, nextHopSelf towards iBGP), withdrawals both ways, enhanced route refresh
// (RFC 7313) both ways, and graceful restart (RFC 4724) with FRR as helper while tabby restarts:
// FRR keeps tabby's routes (stale) meanwhile, sees the R bit, and drops what tabby did not
// announce again. FRR is read through vtysh's JSON output over bgpd's vty socket.
// Needs root and frr (bgpd); skipped without them.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { queryControl } from "../src/bgp/control.js";
import type { PeerStatus, RouteView } from "../src/bgp/speaker.js";
import { sh, waitFor } from "./bird-tabby-pair.js";
import { stopByPidFile, deleteNetns } from "./helpers.js";

const BGPD = "/usr/lib/frr/bgpd";
const hasFrr = existsSync(BGPD) && existsSync("/usr/bin/vtysh");
const canRun = process.getuid?.() === 0 && hasFrr;
const skip = process.getuid?.() !== 0 ? "needs root" : !hasFrr ? "needs FRR's bgpd and vtysh (apt-get install frr)" : false;

const TAG = `ttbf${process.pid}`;
const NS = { tabby: `${TAG}t`, e: `${TAG}e`, i: `${TAG}i` };
const dir = mkdtempSync(join(tmpdir(), "ttbf-frr-"));
const control = join(dir, "tabby.sock");
const main = new URL("../src/cli/main.js", import.meta.url).pathname;
let tabby: ChildProcess | undefined;

interface Frr {
  name: "e" | "i";
  dir: string;
  vtysh(...cmds: string[]): string;
  json<T = Record<string, unknown>>(cmd: string): T;
  log(): string;
}

function frr(name: "e" | "i"): Frr {
  const d = join(dir, `frr-${name}`);
  return {
    name,
    dir: d,
    vtysh: (...cmds) => sh("vtysh", ["--vty_socket", d, "--config_dir", d, "-d", "bgpd", ...cmds.flatMap((c) => ["-c", c])]),
    json(cmd) {
      return JSON.parse(this.vtysh(cmd)) as never;
    },
    log: () => (existsSync(join(d, "bgpd.log")) ? readFileSync(join(d, "bgpd.log"), "utf8") : ""),
  };
}
const E = frr("e");
const I = frr("i");

const FRR_E_CONF = `hostname frre
log file ${E.dir}/bgpd.log debugging
debug bgp neighbor-events
debug bgp updates in
debug bgp graceful-restart
route-map SET4 permit 10
 set community 65001:30
 set large-community 65001:3:30
 set metric 30
route-map NH6 permit 10
 set ipv6 next-hop global fd96:1::1
router bgp 65001
 bgp router-id 10.96.1.1
 no bgp ebgp-requires-policy
 no bgp network import-check
 ! graceful restart: FRR's default mode, helper
 neighbor 10.96.1.2 remote-as 65002
 neighbor 10.96.1.2 timers 3 9
 neighbor 10.96.1.2 timers connect 1
 address-family ipv4 unicast
  network 10.30.0.0/24 route-map SET4
  network 10.31.0.0/24
 exit-address-family
 address-family ipv6 unicast
  network fd30::/64
  neighbor 10.96.1.2 activate
  neighbor 10.96.1.2 route-map NH6 out
 exit-address-family
`;

const FRR_I_CONF = `hostname frri
log file ${I.dir}/bgpd.log debugging
debug bgp neighbor-events
debug bgp graceful-restart
route-map SET6 permit 10
 set local-preference 150
 set community 65002:50
route-map NH6 permit 10
 set ipv6 next-hop global fd96:2::1
router bgp 65002
 bgp router-id 10.96.2.1
 no bgp default ipv4-unicast
 no bgp network import-check
 ! graceful restart: FRR's default mode, helper
 neighbor fd96:2::2 remote-as 65002
 neighbor fd96:2::2 timers 3 9
 neighbor fd96:2::2 timers connect 1
 neighbor 10.96.2.2 remote-as 65002
 neighbor 10.96.2.2 timers 3 9
 neighbor 10.96.2.2 timers connect 1
 address-family ipv4 unicast
  network 10.50.0.0/24 route-map SET6
  neighbor 10.96.2.2 activate
 exit-address-family
 address-family ipv6 unicast
  network fd50::/64 route-map SET6
  neighbor fd96:2::2 activate
  neighbor fd96:2::2 route-map NH6 out
 exit-address-family
`;

/** Stage 0: first start; 1: 10.41 withdrawn (SIGHUP); 2: after the restart, 10.43 gone and 10.42 new. */
function tabbyConf(stage: 0 | 1 | 2): string {
  return `routerId: 10.96.1.2
asNumber: 65002
listen: { address: "::", port: 179 }
control: ${control}
gracefulRestart: { restartTime: 60, selectionDeferralTime: 30 }
peers:
  - { address: 10.96.1.1, asNumber: 65001, holdTime: 9, connectRetry: 1, localIPv6: "fd96:1::2", import: [{ action: accept }], export: [{ action: accept, set: { med: 10 } }] }
  - { address: "fd96:2::1", asNumber: 65002, holdTime: 9, connectRetry: 1, families: [ipv6], nextHopSelf: true }
  - { address: 10.96.2.1, asNumber: 65002, holdTime: 9, connectRetry: 1, families: [ipv4], nextHopSelf: true }
announce:
  - { prefix: 10.40.0.0/24, communities: ["65002:40"], largeCommunities: ["65002:4:40"] }
${stage === 0 ? "  - { prefix: 10.41.0.0/24 }\n" : ""}${stage < 2 ? "  - { prefix: 10.43.0.0/24 }" : "  - { prefix: 10.42.0.0/24 }"}
  - { prefix: "fd40::/64" }
`;
}

function startTabby(restarting: boolean): ChildProcess {
  writeFileSync(join(dir, "tabby.yaml"), tabbyConf(restarting ? 2 : 0));
  const logFd = openSync(join(dir, "tabby.log"), "a");
  const args = ["netns", "exec", NS.tabby, process.execPath, main, "bgp", "run", "-c", join(dir, "tabby.yaml"), "-v", ...(restarting ? ["-R"] : [])];
  return spawn("ip", args, { stdio: ["ignore", logFd, logFd] });
}

function startFrr(f: Frr, ns: string, conf: string): void {
  mkdirSync(f.dir, { recursive: true });
  writeFileSync(join(f.dir, "bgpd.conf"), conf);
  writeFileSync(join(f.dir, "vtysh.conf"), "");
  // -Z: no zebra; -S: no user switch; -P 0: no TCP vty; everything under f.dir
  sh("ip", ["netns", "exec", ns, BGPD, "-d", "-Z", "-S", "-P", "0", "-f", join(f.dir, "bgpd.conf"), "-i", join(f.dir, "bgpd.pid"), "--vty_socket", f.dir]);
}

type FrrPath = {
  valid?: boolean;
  stale?: boolean;
  bestpath?: boolean;
  aspath?: { string: string };
  community?: { string: string };
  largeCommunity?: { string: string };
  med?: number;
  metric?: number;
  locPrf?: number;
  localpref?: number;
  nexthops?: { ip: string }[];
};

/** FRR's paths for one prefix (empty when it has none). */
function frrPaths(f: Frr, family: "ipv4" | "ipv6", prefix: string): FrrPath[] {
  const r = f.json<{ paths?: FrrPath[] }>(`show bgp ${family} unicast ${prefix} json`);
  return r.paths ?? [];
}

function frrNeighbor(f: Frr, addr: string): Record<string, unknown> {
  return f.json<Record<string, Record<string, unknown>>>(`show bgp neighbors ${addr} json`)[addr] ?? {};
}

const peers = async () => (await queryControl(control, { op: "peers" })) as PeerStatus[];
const routes = async (family: "ipv4" | "ipv6") => (await queryControl(control, { op: "routes", family })) as RouteView[];
const tabbyLog = () => (existsSync(join(dir, "tabby.log")) ? readFileSync(join(dir, "tabby.log"), "utf8") : "");

before(() => {
  if (!canRun) return;
  for (const ns of Object.values(NS)) sh("ip", ["netns", "add", ns]);
  for (const [n, ns] of [
    [1, NS.e],
    [2, NS.i],
  ] as const) {
    const veth = `${TAG}${n}`;
    sh("ip", ["link", "add", veth, "netns", ns, "type", "veth", "peer", "name", `eth${n}`, "netns", NS.tabby]);
    sh("ip", ["-n", ns, "link", "set", veth, "name", "eth0"]);
    sh("ip", ["-n", ns, "addr", "add", `10.96.${n}.1/24`, "dev", "eth0"]);
    sh("ip", ["-n", ns, "addr", "add", `fd96:${n}::1/64`, "dev", "eth0", "nodad"]);
    sh("ip", ["-n", NS.tabby, "addr", "add", `10.96.${n}.2/24`, "dev", `eth${n}`]);
    sh("ip", ["-n", NS.tabby, "addr", "add", `fd96:${n}::2/64`, "dev", `eth${n}`, "nodad"]);
    sh("ip", ["-n", ns, "link", "set", "eth0", "up"]);
    sh("ip", ["-n", ns, "link", "set", "lo", "up"]);
    sh("ip", ["-n", NS.tabby, "link", "set", `eth${n}`, "up"]);
  }
  sh("ip", ["-n", NS.tabby, "link", "set", "lo", "up"]);
});

after(() => {
  if (!canRun) return;
  if (tabby?.pid && tabby.exitCode === null && tabby.signalCode === null) process.kill(tabby.pid, "SIGKILL");
  for (const f of [E, I]) {
    const pidFile = join(f.dir, "bgpd.pid");
    stopByPidFile(pidFile);
  }
  deleteNetns(Object.values(NS));
  // TTBF_KEEP=1 keeps the directory (configs, FRR and tabby logs) for a look after a run
  if (!process.env["TTBF_KEEP"]) rmSync(dir, { recursive: true, force: true });
});

test("tabby and FRR: eBGP and iBGP, IPv4 and IPv6, attributes both ways, withdrawals, enhanced route refresh, graceful restart with FRR as helper", {
  skip,
  timeout: 180000,
}, async () => {
  startFrr(E, NS.e, FRR_E_CONF);
  startFrr(I, NS.i, FRR_I_CONF);
  tabby = startTabby(false);
  try {
    await waitFor("both sessions established at tabby", async () => (await peers()).every((p) => p.established), 60000);
    await waitFor(
      "all sessions established at FRR",
      () =>
        ["10.96.1.2"].every((a) => frrNeighbor(E, a)["bgpState"] === "Established") &&
        ["fd96:2::2", "10.96.2.2"].every((a) => frrNeighbor(I, a)["bgpState"] === "Established"),
    );
    const capsE = frrNeighbor(E, "10.96.1.2")["neighborCapabilities"] as Record<string, unknown>;
    assert.equal(capsE["enhancedRouteRefresh"], "advertisedAndReceived");
    assert.equal(capsE["gracefulRestart"], "advertisedAndReceived");

    // FRR → tabby, with attributes
    await waitFor("tabby learns FRR's routes", async () => {
      const v4 = await routes("ipv4");
      const v6 = await routes("ipv6");
      return (
        ["10.30.0.0/24", "10.31.0.0/24", "10.50.0.0/24"].every((p) => v4.some((r) => r.prefix === p)) &&
        ["fd30::/64", "fd50::/64"].every((p) => v6.some((r) => r.prefix === p))
      );
    });
    const r30 = (await routes("ipv4")).find((r) => r.prefix === "10.30.0.0/24")!.paths[0]!;
    assert.deepEqual([r30.nextHop, r30.asPath, r30.med, r30.communities, r30.largeCommunities], ["10.96.1.1", [65001], 30, ["65001:30"], ["65001:3:30"]]);
    const r30v6 = (await routes("ipv6")).find((r) => r.prefix === "fd30::/64")!.paths[0]!;
    assert.deepEqual([r30v6.nextHop, r30v6.asPath], ["fd96:1::1", [65001]]);
    const r50 = (await routes("ipv6")).find((r) => r.prefix === "fd50::/64")!.paths[0]!;
    assert.deepEqual([r50.nextHop, r50.asPath, r50.localPref, r50.communities], ["fd96:2::1", [], 150, ["65002:50"]]);
    const r50v4 = (await routes("ipv4")).find((r) => r.prefix === "10.50.0.0/24")!.paths[0]!;
    assert.deepEqual([r50v4.nextHop, r50v4.asPath, r50v4.localPref, r50v4.communities], ["10.96.2.1", [], 150, ["65002:50"]]);

    // tabby → FRR, with attributes
    await waitFor(
      "FRR E learns tabby's routes",
      () => frrPaths(E, "ipv4", "10.40.0.0/24").length > 0 && frrPaths(E, "ipv4", "10.41.0.0/24").length > 0 && frrPaths(E, "ipv6", "fd40::/64").length > 0,
    );
    const p40 = frrPaths(E, "ipv4", "10.40.0.0/24")[0]!;
    assert.equal(p40.aspath?.string, "65002");
    assert.equal(p40.community?.string, "65002:40");
    assert.equal(p40.largeCommunity?.string, "65002:4:40");
    assert.equal(p40.med ?? p40.metric, 10, "export policy set MED");
    assert.equal(p40.nexthops?.[0]?.ip, "10.96.1.2");
    assert.ok(frrPaths(E, "ipv6", "fd40::/64")[0]!.nexthops?.some((n) => n.ip === "fd96:1::2"));
    // iBGP: the eBGP-learned fd30::/64 goes to FRR I with our address (nextHopSelf), LOCAL_PREF kept
    await waitFor("FRR I learns fd30::/64 and fd40::/64", () => frrPaths(I, "ipv6", "fd30::/64").length > 0 && frrPaths(I, "ipv6", "fd40::/64").length > 0);
    const i30 = frrPaths(I, "ipv6", "fd30::/64")[0]!;
    assert.ok(
      i30.nexthops?.some((n) => n.ip === "fd96:2::2"),
      `nextHopSelf: ${JSON.stringify(i30.nexthops)}`,
    );
    assert.equal(i30.aspath?.string, "65001");
    assert.equal(i30.locPrf ?? i30.localpref, 100);
    await waitFor("FRR I learns 10.30.0.0/24 over the IPv4 iBGP session", () => frrPaths(I, "ipv4", "10.30.0.0/24").length > 0);
    const i30v4 = frrPaths(I, "ipv4", "10.30.0.0/24")[0]!;
    assert.equal(i30v4.nexthops?.[0]?.ip, "10.96.2.2", "nextHopSelf on the IPv4 iBGP session");
    assert.equal(i30v4.community?.string, "65001:30");
    assert.equal(i30v4.largeCommunity?.string, "65001:3:30");

    // withdrawal FRR → tabby
    E.vtysh("configure terminal", "router bgp 65001", "address-family ipv4 unicast", "no network 10.31.0.0/24");
    await waitFor("tabby drops 10.31.0.0/24", async () => !(await routes("ipv4")).some((r) => r.prefix === "10.31.0.0/24"));

    // enhanced route refresh, tabby answering: FRR asks (soft in), tabby frames the table with BoRR/EoRR
    const before = (frrNeighbor(E, "10.96.1.2")["messageStats"] as Record<string, number>)["routeRefreshSent"] ?? 0;
    E.vtysh("clear bgp ipv4 unicast 10.96.1.2 soft in");
    await waitFor("FRR logs tabby's BoRR and EoRR", () => /rcvd route-refresh \(BoRR\)/.test(E.log()) && /rcvd route-refresh \(EoRR\)/.test(E.log()));
    assert.ok(((frrNeighbor(E, "10.96.1.2")["messageStats"] as Record<string, number>)["routeRefreshSent"] ?? 0) > before);
    assert.ok(frrPaths(E, "ipv4", "10.40.0.0/24").length > 0, "routes survive the refresh");
    // enhanced route refresh, tabby asking: FRR answers with BoRR … EoRR; tabby keeps what it re-sent
    assert.deepEqual(await queryControl(control, { op: "refresh", peer: "10.96.1.1", family: "ipv4" }), { requests: 1 });
    await waitFor("tabby sees FRR's BoRR and EoRR", () => /BoRR received/.test(tabbyLog()) && /EoRR received/.test(tabbyLog()));
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(
      (await routes("ipv4")).some((r) => r.prefix === "10.30.0.0/24"),
      "re-sent routes are not purged",
    );

    // withdrawal tabby → FRR (configuration reload)
    assert.ok(frrPaths(E, "ipv4", "10.43.0.0/24").length > 0);
    writeFileSync(join(dir, "tabby.yaml"), tabbyConf(1));
    process.kill(tabby.pid!, "SIGHUP");
    await waitFor("FRR E drops 10.41.0.0/24", () => frrPaths(E, "ipv4", "10.41.0.0/24").length === 0);

    // graceful restart: tabby leaves without NOTIFICATION (SIGUSR2); FRR keeps its routes, stale
    const exited = new Promise<void>((r) => tabby!.once("exit", () => r()));
    process.kill(tabby.pid!, "SIGUSR2");
    await exited;
    await waitFor("FRR E sees the session down", () => frrNeighbor(E, "10.96.1.2")["bgpState"] !== "Established");
    await waitFor("FRR E marks tabby's routes stale", () => frrPaths(E, "ipv4", "10.40.0.0/24")[0]?.stale === true);
    assert.equal(frrPaths(E, "ipv4", "10.43.0.0/24")[0]?.stale, true);
    assert.ok(frrPaths(I, "ipv6", "fd40::/64").length > 0, "FRR I keeps tabby's route too");
    assert.doesNotMatch(E.log(), /Notification.*received|rcvd Notification/i);

    // back with -R: the R bit and F bits; stale 10.43 (not announced again) removed, 10.42 new
    tabby = startTabby(true);
    await waitFor("sessions back", async () => (await peers()).every((p) => p.established), 60000);
    await waitFor("FRR E has the new session", () => frrNeighbor(E, "10.96.1.2")["bgpState"] === "Established");
    const grInfo = frrNeighbor(E, "10.96.1.2")["gracefulRestartInfo"] as Record<string, unknown>;
    assert.equal(grInfo["rBit"], true, `R bit seen by FRR: ${JSON.stringify(grInfo)}`);
    assert.equal(grInfo["nBit"], true, `N bit (RFC 8538) seen by FRR: ${JSON.stringify(grInfo)}`);
    assert.equal((grInfo["ipv4Unicast"] as Record<string, unknown>)["fBit"], true, "F bit: forwarding state preserved");
    await waitFor("FRR E drops the route tabby did not announce again", () => frrPaths(E, "ipv4", "10.43.0.0/24").length === 0);
    await waitFor("FRR E has 10.42.0.0/24", () => frrPaths(E, "ipv4", "10.42.0.0/24").length > 0);
    const p40b = frrPaths(E, "ipv4", "10.40.0.0/24")[0]!;
    assert.notEqual(p40b.stale, true, "10.40.0.0/24 announced again: no longer stale");
    // FRR sets the R bit itself for the first 120 s after bgpd starts (its start-up timer), and
    // RFC 4724 §4.1 says not to wait for End-of-RIB from a restarting peer: selection ends at
    // once here. The wait itself is covered by src/bgp/speaker-refresh.test.ts.
    assert.match(tabbyLog(), /route selection done after restart/);
    await waitFor("tabby relearns FRR's routes", async () => (await routes("ipv4")).some((r) => r.prefix === "10.30.0.0/24"));
  } catch (err) {
    process.stderr.write(
      `--- tabby log ---\n${tabbyLog().slice(-6000)}\n--- FRR E log ---\n${E.log().slice(-4000)}\n--- FRR I log ---\n${I.log().slice(-2000)}\n`,
    );
    throw err;
  }
});
