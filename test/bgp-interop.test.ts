// Interop: a real BIRD 2 and `tabby bgp run` in two network namespaces joined by a veth pair.
// BIRD (AS 65001 on 10.99.0.1 / fd99::1) peers with tabby (AS 65002 on 10.99.0.2 / fd99::2)
// over eBGP on IPv4 (carrying IPv4 and IPv6 with MP-BGP) and over iBGP on IPv6 (IPv6 only).
// Checks: sessions establish, routes flow both ways for both families, withdrawals on either side
// propagate, and stopping tabby (Cease) removes its routes from BIRD. Needs root and bird2.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, openSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { queryControl } from "../src/bgp/control.js";
import { sh, waitFor } from "./bird-tabby-pair.js";
import type { PeerStatus, RouteView } from "../src/bgp/speaker.js";

const canRun = process.getuid?.() === 0 && existsSync("/usr/sbin/bird");
const NS_BIRD = `ttbg${process.pid}a`;
const NS_TABBY = `ttbg${process.pid}b`;
const VETH = `ttbg${process.pid}x`;
const dir = mkdtempSync(join(tmpdir(), "ttbg-"));
const birdSock = join(dir, "bird.ctl");
const birdPid = join(dir, "bird.pid");
const control = join(dir, "tabby.sock");
const main = new URL("../src/cli/main.js", import.meta.url).pathname;
let tabby: ChildProcess | undefined;


function birdc(...args: string[]): string {
  return sh("birdc", ["-s", birdSock, ...args]);
}


function birdConf(withV4Route: boolean): string {
  return `router id 10.99.0.1;
log "${join(dir, "bird.log")}" all;
protocol device { scan time 1; }
protocol direct { ipv4; ipv6; }
protocol static s4 { ipv4; ${withV4Route ? "route 10.10.0.0/24 blackhole;" : ""} route 10.11.0.0/24 blackhole; }
protocol static s6 { ipv6; route fd10::/64 blackhole; }
protocol bgp ebgp1 {
  local 10.99.0.1 as 65001; neighbor 10.99.0.2 as 65002;
  hold time 9; connect retry time 1; connect delay time 1; error wait time 1, 5;
  ipv4 { import all; export where proto = "s4"; };
  ipv6 { import all; export where proto = "s6"; next hop address fd99::1; };
}
protocol bgp ibgp1 {
  local fd99::1 as 65002; neighbor fd99::2 as 65002;
  hold time 9; connect retry time 1; connect delay time 1; error wait time 1, 5;
  ipv6 { import all; export where proto = "s6"; add paths on; };
}
`;
}

function tabbyConf(announceV4: boolean): string {
  return `routerId: 10.99.0.2
asNumber: 65002
listen: { address: "::", port: 179 }
control: ${control}
peers:
  - { address: 10.99.0.1, asNumber: 65001, holdTime: 9, connectRetry: 1, localIPv6: "fd99::2", import: [{ action: accept }], export: [{ action: accept }] }
  - { address: "fd99::1", asNumber: 65002, holdTime: 9, connectRetry: 1, families: [ipv6] }
announce:
${announceV4 ? '  - { prefix: 10.20.0.0/24, communities: ["65002:20"] }\n' : ""}  - { prefix: "fd20::/64" }
`;
}

before(() => {
  if (!canRun) return;
  sh("ip", ["netns", "add", NS_BIRD]);
  sh("ip", ["netns", "add", NS_TABBY]);
  sh("ip", ["link", "add", VETH, "netns", NS_BIRD, "type", "veth", "peer", "name", "eth0", "netns", NS_TABBY]);
  sh("ip", ["-n", NS_BIRD, "link", "set", VETH, "name", "eth0"]);
  for (const [ns, n] of [[NS_BIRD, 1], [NS_TABBY, 2]] as const) {
    sh("ip", ["-n", ns, "addr", "add", `10.99.0.${n}/24`, "dev", "eth0"]);
    sh("ip", ["-n", ns, "addr", "add", `fd99::${n}/64`, "dev", "eth0", "nodad"]);
    sh("ip", ["-n", ns, "link", "set", "lo", "up"]);
    sh("ip", ["-n", ns, "link", "set", "eth0", "up"]);
  }
});

after(() => {
  if (!canRun) return;
  if (tabby?.pid && tabby.exitCode === null) process.kill(tabby.pid, "SIGKILL");
  if (existsSync(birdPid)) {
    try {
      process.kill(Number(readFileSync(birdPid, "utf8").trim()), "SIGTERM");
    } catch {
      /* gone */
    }
  }
  for (const ns of [NS_BIRD, NS_TABBY]) {
    try {
      sh("ip", ["netns", "del", ns]);
    } catch {
      /* not there */
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

test("tabby and BIRD 2 exchange IPv4 and IPv6 routes over eBGP and iBGP", { skip: !canRun && "needs root and bird2", timeout: 120000 }, async () => {
  writeFileSync(join(dir, "bird.conf"), birdConf(true));
  sh("ip", ["netns", "exec", NS_BIRD, "bird", "-c", join(dir, "bird.conf"), "-s", birdSock, "-P", birdPid]);
  const tabbyConfPath = join(dir, "tabby.yaml");
  writeFileSync(tabbyConfPath, tabbyConf(true));
  const logFd = openSync(join(dir, "tabby.log"), "a");
  tabby = spawn("ip", ["netns", "exec", NS_TABBY, process.execPath, main, "bgp", "run", "-c", tabbyConfPath, "-v"], { stdio: ["ignore", logFd, logFd] });
  const exited = new Promise<void>((r) => tabby!.once("exit", () => r()));
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
    assert.equal(r4.paths[0]!.nextHop, "10.99.0.1");
    assert.deepEqual(r4.paths[0]!.asPath, [65001]);
    const r6 = (await routes("ipv6")).find((r) => r.prefix === "fd10::/64")!;
    const best6 = r6.paths.find((p) => p.best)!;
    assert.equal(best6.peer, "fd99::1", "the iBGP path (shorter AS_PATH) wins");
    assert.equal(best6.nextHop, "fd99::1");
    assert.equal(best6.localPref, 100);

    // tabby → BIRD
    await waitFor("BIRD learns tabby's routes", () => {
      const e = birdc("show", "route", "all", "protocol", "ebgp1");
      const i = birdc("show", "route", "all", "protocol", "ibgp1");
      return e.includes("10.20.0.0/24") && e.includes("fd20::/64") && i.includes("fd20::/64");
    });
    const e = birdc("show", "route", "all", "protocol", "ebgp1");
    assert.match(e, /BGP\.as_path: 65002/);
    assert.match(e, /BGP\.next_hop: 10\.99\.0\.2/);
    assert.match(e, /BGP\.next_hop: fd99::2/);
    assert.match(e, /BGP\.community: \(65002,20\)/);
    const i = birdc("show", "route", "all", "protocol", "ibgp1");
    assert.match(i, /BGP\.local_pref: 100/);
    assert.match(i, /BGP\.as_path: *\n/);

    // withdrawal from tabby (config reload) reaches BIRD
    writeFileSync(tabbyConfPath, tabbyConf(false));
    process.kill(tabby.pid!, "SIGHUP");
    await waitFor("BIRD drops 10.20.0.0/24", () => !birdc("show", "route", "protocol", "ebgp1").includes("10.20.0.0/24"));
    assert.ok(birdc("show", "route", "protocol", "ebgp1").includes("fd20::/64"));

    // withdrawal from BIRD reaches tabby
    writeFileSync(join(dir, "bird.conf"), birdConf(false));
    birdc("configure");
    await waitFor("tabby drops 10.10.0.0/24", async () => !(await routes("ipv4")).some((r) => r.prefix === "10.10.0.0/24"));
    assert.ok((await routes("ipv4")).some((r) => r.prefix === "10.11.0.0/24"));

    // a clean stop of tabby removes its routes from BIRD
    process.kill(tabby.pid!, "SIGTERM");
    await exited;
    await waitFor("BIRD drops fd20::/64", () => !birdc("show", "route").includes("fd20::/64"));
    const prot = birdc("show", "protocols", "all", "ebgp1");
    assert.match(prot, /Administrative shutdown|Received: .*shutdown/i);
  } catch (err) {
    process.stderr.write(`--- tabby log ---\n${readFileSync(join(dir, "tabby.log"), "utf8")}\n--- bird log ---\n${existsSync(join(dir, "bird.log")) ? readFileSync(join(dir, "bird.log"), "utf8").slice(-4000) : ""}\n`);
    throw err;
  }
});
