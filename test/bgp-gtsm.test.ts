// GTSM (RFC 5082) for real. 1) Interop with BIRD 2 (`ttl security on`) on a direct link: tabby
// with ttlSecurity 1 establishes over IPv4 and IPv6; a tabby peer without it never does, because
// it sends with TTL 64 and BIRD drops that. 2) Two `tabby bgp run` two hops apart (a router
// namespace between them): with ttlSecurity 1 the far side's SYN arrives with TTL 254 and is
// refused at accept (the reason shows in the peer's lastError); after a SIGHUP to ttlSecurity 2
// the session establishes. 3) Interop with FRR 8.4 bgpd (`neighbor X ttl-security hops 1`, no
// zebra) on a direct link: establishes over IPv4 with ttlSecurity 1 and learns FRR's route; without
// it FRR never establishes and no route crosses (tabby may see Established for a while: below). Needs root,
// bird2, frr, koffi.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { queryControl } from "../src/bgp/control.js";
import type { PeerStatus } from "../src/bgp/speaker.js";
import { birdTabbyPair, sh, waitFor } from "./bird-tabby-pair.js";
import { stopByPidFile } from "./helpers.js";

const pair = birdTabbyPair("ttgt");
const { canRun, dir, control, birdc, peers } = pair;

const BIRD_CONF = `router id 10.98.0.1;
log "${join(dir, "bird.log")}" all;
protocol device { scan time 1; }
protocol static s4 { ipv4; route 10.10.0.0/24 blackhole; }
protocol static s6 { ipv6; route fd10::/64 blackhole; }
protocol bgp near4 {
  local 10.98.0.1 as 65001; neighbor 10.98.0.2 as 65002; ttl security on;
  hold time 9; connect retry time 1; connect delay time 1; error wait time 1, 5;
  ipv4 { import all; export where proto = "s4"; };
}
protocol bgp near6 {
  local fd98::1 as 65001; neighbor fd98::2 as 65002; ttl security on;
  hold time 9; connect retry time 1; connect delay time 1; error wait time 1, 5;
  ipv6 { import all; export where proto = "s6"; };
}
protocol bgp plain {
  local 10.98.0.3 as 65001; neighbor 10.98.0.4 as 65002; ttl security on;
  hold time 9; connect retry time 1; connect delay time 1; error wait time 1, 5;
  ipv4 { import all; export where proto = "s4"; };
}
`;

const TABBY_CONF = `routerId: 10.98.0.2
asNumber: 65002
listen: { address: "::", port: 179 }
control: ${control}
peers:
  - { address: 10.98.0.1, asNumber: 65001, holdTime: 9, connectRetry: 1, families: [ipv4], ttlSecurity: 1, expectedRouterId: 10.98.0.1, import: [{ action: accept }] }
  - { address: "fd98::1", asNumber: 65001, holdTime: 9, connectRetry: 1, families: [ipv6], ttlSecurity: 1, localAddress: "fd98::2", import: [{ action: accept }] }
  - { address: 10.98.0.3, asNumber: 65001, holdTime: 9, connectRetry: 1, families: [ipv4], localAddress: 10.98.0.4, import: [{ action: accept }] }
`;

// --- two hops: a (10.96.1.2) — r (10.96.1.1 | 10.96.2.1) — c (10.96.2.2) ---
const tag = `ttgh${process.pid}`;
const ns = { a: `${tag}a`, r: `${tag}r`, c: `${tag}c` };
const hopDir = mkdtempSync(join(tmpdir(), "ttgh-"));
const main = new URL("../src/cli/main.js", import.meta.url).pathname;
const started: ChildProcess[] = [];

function hopConf(self: string, peer: string, as: number, peerAs: number, hops: number, sock: string): string {
  return `routerId: ${self}
asNumber: ${as}
listen: { address: ${self}, port: 179 }
control: ${sock}
peers:
  - { address: ${peer}, asNumber: ${peerAs}, holdTime: 9, connectRetry: 1, families: [ipv4], localAddress: ${self}, ttlSecurity: ${hops}, import: [{ action: accept }], export: [{ action: accept }] }
`;
}

function runTabby(netns: string, conf: string): ChildProcess {
  const log = openSync(conf.replace(/\.yaml$/, ".log"), "a");
  const p = spawn("ip", ["netns", "exec", netns, process.execPath, main, "bgp", "run", "-c", conf, "-v"], { stdio: ["ignore", log, log] });
  started.push(p);
  return p;
}

before(() => {
  pair.setUp();
  if (!canRun) return;
  for (const n of Object.values(ns)) sh("ip", ["netns", "add", n]);
  sh("ip", ["link", "add", `${tag}x`, "netns", ns.a, "type", "veth", "peer", "name", "ra", "netns", ns.r]);
  sh("ip", ["link", "add", `${tag}y`, "netns", ns.c, "type", "veth", "peer", "name", "rc", "netns", ns.r]);
  sh("ip", ["-n", ns.a, "link", "set", `${tag}x`, "name", "eth0"]);
  sh("ip", ["-n", ns.c, "link", "set", `${tag}y`, "name", "eth0"]);
  const addrs: [string, string, string][] = [
    [ns.a, "eth0", "10.96.1.2/24"],
    [ns.r, "ra", "10.96.1.1/24"],
    [ns.r, "rc", "10.96.2.1/24"],
    [ns.c, "eth0", "10.96.2.2/24"],
  ];
  for (const [n, dev, a] of addrs) sh("ip", ["-n", n, "addr", "add", a, "dev", dev]);
  for (const [n, dev] of [
    [ns.a, "eth0"],
    [ns.r, "ra"],
    [ns.r, "rc"],
    [ns.c, "eth0"],
    [ns.a, "lo"],
    [ns.r, "lo"],
    [ns.c, "lo"],
  ] as const)
    sh("ip", ["-n", n, "link", "set", dev, "up"]);
  sh("ip", ["netns", "exec", ns.r, "sysctl", "-qw", "net.ipv4.ip_forward=1"]);
  sh("ip", ["-n", ns.a, "route", "add", "default", "via", "10.96.1.1"]);
  sh("ip", ["-n", ns.c, "route", "add", "default", "via", "10.96.2.1"]);
});

// --- FRR on a direct link: f (10.96.3.1) — t (10.96.3.2) ---
const BGPD = "/usr/lib/frr/bgpd";
const hasFrr = existsSync(BGPD) && existsSync("/usr/bin/vtysh");
const frrNs = { f: `${tag}f`, t: `${tag}t` };
const frrDir = join(hopDir, "frr");

after(async () => {
  const frrPid = join(frrDir, "bgpd.pid");
  stopByPidFile(frrPid);
  for (const p of started) if (p.pid && p.exitCode === null && p.signalCode === null) process.kill(p.pid, "SIGKILL");
  pair.tearDown();
  if (canRun) {
    for (const n of [...Object.values(ns), ...Object.values(frrNs)]) {
      try {
        sh("ip", ["netns", "del", n]);
      } catch {
        /* not there */
      }
    }
  }
  rmSync(hopDir, { recursive: true, force: true });
});

test("GTSM with BIRD 2 (ttl security on): IPv4 and IPv6 establish with ttlSecurity 1; a peer sending TTL 64 never does", {
  skip: !canRun && "needs root and bird2",
  timeout: 120000,
}, async () => {
  pair.start(BIRD_CONF, TABBY_CONF);
  try {
    await waitFor("the IPv4 GTSM session", async () => (await peers()).find((p) => p.address === "10.98.0.1")?.established === true);
    await waitFor("the IPv6 GTSM session", async () => (await peers()).find((p) => p.address === "fd98::1")?.established === true);
    assert.match(birdc("show", "protocols", "near4"), /Established/);
    assert.match(birdc("show", "protocols", "near6"), /Established/);
    // several connect retries on both sides: BIRD drops every TTL-64 segment from .4
    await new Promise((r) => setTimeout(r, 6000));
    // BIRD sets its minimum TTL on a socket only after accepting it, so tabby's first OPEN can slip
    // in and tabby may briefly see OpenConfirm or even Established (BIRD's KEEPALIVE reaches it,
    // its own never reaches BIRD): what GTSM guarantees is that BIRD never establishes and so
    // never sends a route.
    assert.doesNotMatch(birdc("show", "protocols", "plain"), /Established/);
    assert.equal((await peers()).find((p) => p.address === "10.98.0.3")!.prefixesReceived, 0);
  } catch (err) {
    process.stderr.write(`--- tabby log ---\n${pair.tabbyLog()}\n`);
    throw err;
  }
});

test("GTSM two hops apart: ttlSecurity 1 refuses the far peer's SYN (TTL 254), ttlSecurity 2 accepts it", {
  skip: !canRun && "needs root",
  timeout: 120000,
}, async () => {
  const sockA = join(hopDir, "a.sock");
  const sockC = join(hopDir, "c.sock");
  const confA = join(hopDir, "a.yaml");
  const confC = join(hopDir, "c.yaml");
  writeFileSync(confA, hopConf("10.96.1.2", "10.96.2.2", 65001, 65002, 2, sockA));
  writeFileSync(confC, hopConf("10.96.2.2", "10.96.1.2", 65002, 65001, 1, sockC));
  runTabby(ns.a, confA);
  const c = runTabby(ns.c, confC);
  const peerC = async () => ((await queryControl(sockC, { op: "peers" })) as PeerStatus[])[0]!;
  try {
    await waitFor("c refuses a's connection", async () => /GTSM: SYN arrived with TTL 254, below 255/.test((await peerC()).lastError ?? ""));
    await new Promise((r) => setTimeout(r, 4000));
    assert.equal((await peerC()).established, false);
    writeFileSync(confC, hopConf("10.96.2.2", "10.96.1.2", 65002, 65001, 2, sockC));
    c.kill("SIGHUP");
    await waitFor("established with ttlSecurity 2", async () => (await peerC()).established);
  } catch (err) {
    for (const f of ["a.log", "c.log"]) process.stderr.write(`--- ${f} ---\n${readFileSync(join(hopDir, f), "utf8").slice(-3000)}\n`);
    throw err;
  }
});

test("GTSM with FRR 8.4 (ttl-security hops 1): the session establishes over IPv4", {
  skip: (!canRun || !hasFrr) && "needs root and frr",
  timeout: 120000,
}, async () => {
  for (const n of Object.values(frrNs)) sh("ip", ["netns", "add", n]);
  sh("ip", ["link", "add", `${tag}z`, "netns", frrNs.f, "type", "veth", "peer", "name", "eth0", "netns", frrNs.t]);
  sh("ip", ["-n", frrNs.f, "link", "set", `${tag}z`, "name", "eth0"]);
  sh("ip", ["-n", frrNs.f, "addr", "add", "10.96.3.1/24", "dev", "eth0"]);
  sh("ip", ["-n", frrNs.t, "addr", "add", "10.96.3.2/24", "dev", "eth0"]);
  for (const n of Object.values(frrNs)) for (const dev of ["lo", "eth0"]) sh("ip", ["-n", n, "link", "set", dev, "up"]);
  mkdirSync(frrDir, { recursive: true });
  writeFileSync(
    join(frrDir, "bgpd.conf"),
    `hostname frrg
log file ${frrDir}/bgpd.log debugging
debug bgp neighbor-events
router bgp 65001
 bgp router-id 10.96.3.1
 no bgp ebgp-requires-policy
 neighbor 10.96.3.2 remote-as 65002
 neighbor 10.96.3.2 ttl-security hops 1
 neighbor 10.96.3.2 timers 3 9
 neighbor 10.96.3.2 timers connect 1
 no bgp network import-check
 address-family ipv4 unicast
  network 10.77.0.0/24
 exit-address-family
`,
  );
  sh("ip", [
    "netns",
    "exec",
    frrNs.f,
    BGPD,
    "-d",
    "-Z",
    "-S",
    "-P",
    "0",
    "-f",
    join(frrDir, "bgpd.conf"),
    "-i",
    join(frrDir, "bgpd.pid"),
    "--vty_socket",
    frrDir,
  ]);
  const sock = join(hopDir, "t.sock");
  const conf = join(hopDir, "t.yaml");
  writeFileSync(
    conf,
    `routerId: 10.96.3.2
asNumber: 65002
listen: { address: "::", port: 179 }
control: ${sock}
peers:
  - { address: 10.96.3.1, asNumber: 65001, holdTime: 9, connectRetry: 1, families: [ipv4], ttlSecurity: 1, expectedRouterId: 10.96.3.1, import: [{ action: accept }] }
`,
  );
  const t = runTabby(frrNs.t, conf);
  const vtysh = (cmd: string) => sh("vtysh", ["--vty_socket", frrDir, "--config_dir", frrDir, "-d", "bgpd", "-c", cmd]);
  const frrState = () => (JSON.parse(vtysh("show bgp neighbors 10.96.3.2 json")) as Record<string, { bgpState?: string }>)["10.96.3.2"]?.bgpState;
  const tabbyPeer = async () => ((await queryControl(sock, { op: "peers" })) as PeerStatus[])[0];
  try {
    await waitFor("tabby established with FRR", async () => (await tabbyPeer())?.established === true);
    assert.equal(frrState(), "Established");
    await waitFor("FRR's route at tabby", async () => (await tabbyPeer())?.prefixesReceived === 1);
    // Without GTSM on tabby's side (TTL 64) FRR drops what tabby sends. FRR sets its minimum TTL on
    // a socket only once it has accepted it (bgp_accept), so an OPEN tabby sends right after its
    // connect can already be queued on the socket and read: FRR then answers with its OPEN and a
    // KEEPALIVE and sits in OpenConfirm, tabby (which gets those) may show Established until FRR's
    // hold timer (9 s) ends it — so tabby's own state says nothing here, and is not what GTSM
    // guarantees. What it does guarantee is that FRR never hears tabby's KEEPALIVE, so never
    // establishes and never sends a route; that is checked for 6 s, several connect retries.
    writeFileSync(conf, readFileSync(conf, "utf8").replace("ttlSecurity: 1, ", ""));
    t.kill("SIGHUP");
    await waitFor("FRR sees the session reset by the change", () => frrState() !== "Established");
    for (const end = Date.now() + 6000; Date.now() < end; ) {
      assert.notEqual(frrState(), "Established", "FRR established with a peer sending TTL 64");
      assert.equal((await tabbyPeer())?.prefixesReceived, 0, "a route crossed from FRR to a peer sending TTL 64");
      await new Promise((r) => setTimeout(r, 200));
    }
  } catch (err) {
    process.stderr.write(
      `--- t.log ---\n${readFileSync(join(hopDir, "t.log"), "utf8").slice(-3000)}\n--- bgpd.log ---\n${existsSync(join(frrDir, "bgpd.log")) ? readFileSync(join(frrDir, "bgpd.log"), "utf8").slice(-3000) : ""}\n`,
    );
    throw err;
  }
});
