// Interop: GoBGP 3 as a route reflector with ADD-PATH (send-max 8) and `tabby bgp run` as its
// client, in two network namespaces joined by a veth pair. Checks: the session establishes with
// ADD-PATH, tabby keeps both paths GoBGP sends for one prefix (path ids 1 and 2), GoBGP learns
// tabby's IPv4 and IPv6 routes, withdrawals flow, and stopping tabby removes its routes.
// Needs root and gobgpd.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, openSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { queryControl } from "../src/bgp/control.js";
import { sh, waitFor } from "./bird-tabby-pair.js";
import type { PeerStatus, RouteView } from "../src/bgp/speaker.js";
import { deleteNetns } from "./helpers.js";

const canRun = process.getuid?.() === 0 && existsSync("/usr/bin/gobgpd") && existsSync("/usr/bin/gobgp");
const NS_GO = `ttbg${process.pid}g`;
const NS_TABBY = `ttbg${process.pid}t`;
const VETH = `ttbg${process.pid}y`;
const dir = mkdtempSync(join(tmpdir(), "ttbg-"));
const control = join(dir, "tabby.sock");
const main = new URL("../src/cli/main.js", import.meta.url).pathname;
let gobgpd: ChildProcess | undefined;
let tabby: ChildProcess | undefined;

function gobgp(...args: string[]): string {
  return sh("ip", ["netns", "exec", NS_GO, "gobgp", "-p", "50051", ...args]);
}

const GOBGP_CONF = `[global.config]
  as = 65002
  router-id = "10.99.0.1"
  port = 179
  local-address-list = ["10.99.0.1"]
[[neighbors]]
  [neighbors.config]
    neighbor-address = "10.99.0.2"
    peer-as = 65002
  [neighbors.timers.config]
    connect-retry = 1
    hold-time = 9
    keepalive-interval = 3
  [neighbors.transport.config]
    local-address = "10.99.0.1"
  [neighbors.route-reflector.config]
    route-reflector-client = true
    route-reflector-cluster-id = "10.99.0.1"
  [neighbors.add-paths.config]
    send-max = 8
    receive = true
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv6-unicast"
`;

const TABBY_CONF = `routerId: 10.99.0.2
asNumber: 65002
listen: { address: 10.99.0.2, port: 179 }
control: ${control}
peers:
  - { address: 10.99.0.1, asNumber: 65002, holdTime: 9, connectRetry: 1, localIPv6: "fd99::2" }
announce:
  - { prefix: 10.80.0.0/24 }
  - { prefix: "fd80::/64" }
`;

before(() => {
  if (!canRun) return;
  sh("ip", ["netns", "add", NS_GO]);
  sh("ip", ["netns", "add", NS_TABBY]);
  sh("ip", ["link", "add", VETH, "netns", NS_GO, "type", "veth", "peer", "name", "eth0", "netns", NS_TABBY]);
  sh("ip", ["-n", NS_GO, "link", "set", VETH, "name", "eth0"]);
  for (const [ns, n] of [
    [NS_GO, 1],
    [NS_TABBY, 2],
  ] as const) {
    sh("ip", ["-n", ns, "addr", "add", `10.99.0.${n}/24`, "dev", "eth0"]);
    sh("ip", ["-n", ns, "addr", "add", `fd99::${n}/64`, "dev", "eth0", "nodad"]);
    sh("ip", ["-n", ns, "link", "set", "lo", "up"]);
    sh("ip", ["-n", ns, "link", "set", "eth0", "up"]);
  }
});

after(() => {
  if (!canRun) return;
  for (const p of [tabby, gobgpd]) if (p?.pid && p.exitCode === null && p.signalCode === null) process.kill(p.pid, "SIGKILL");
  deleteNetns([NS_GO, NS_TABBY]);
  rmSync(dir, { recursive: true, force: true });
});

test("tabby as a client of a GoBGP route reflector with ADD-PATH", { skip: !canRun && "needs root and gobgpd", timeout: 120000 }, async () => {
  writeFileSync(join(dir, "gobgpd.toml"), GOBGP_CONF);
  writeFileSync(join(dir, "tabby.yaml"), TABBY_CONF);
  const goLog = openSync(join(dir, "gobgpd.log"), "a");
  gobgpd = spawn("ip", ["netns", "exec", NS_GO, "gobgpd", "-f", join(dir, "gobgpd.toml"), "--api-hosts", "127.0.0.1:50051", "--pprof-disable", "-p"], {
    stdio: ["ignore", goLog, goLog],
  });
  const log = openSync(join(dir, "tabby.log"), "a");
  tabby = spawn("ip", ["netns", "exec", NS_TABBY, process.execPath, main, "bgp", "run", "-c", join(dir, "tabby.yaml"), "-v"], { stdio: ["ignore", log, log] });
  const tabbyExited = new Promise<void>((r) => tabby!.once("exit", () => r()));
  try {
    const peers = async () => (await queryControl(control, { op: "peers" })) as PeerStatus[];
    const routes = async (family: "ipv4" | "ipv6") => (await queryControl(control, { op: "routes", family })) as RouteView[];
    await waitFor("session established", async () => (await peers())[0]!.established);
    await waitFor("gobgp sees it established", () => gobgp("neighbor").includes("Establ"));
    const nb = gobgp("neighbor", "10.99.0.2");
    assert.match(nb, /add-path:\s+advertised and received/);

    // two paths for one prefix from the RR: both kept (ADD-PATH receive)
    gobgp("global", "rib", "add", "10.70.0.0/24", "nexthop", "10.99.0.11", "identifier", "1");
    gobgp("global", "rib", "add", "10.70.0.0/24", "nexthop", "10.99.0.12", "identifier", "2");
    gobgp("global", "rib", "-a", "ipv6", "add", "fd70::/64", "nexthop", "fd99::11");
    await waitFor("tabby holds both paths", async () => ((await routes("ipv4")).find((r) => r.prefix === "10.70.0.0/24")?.paths.length ?? 0) === 2);
    const r = (await routes("ipv4")).find((x) => x.prefix === "10.70.0.0/24")!;
    assert.deepEqual(r.paths.map((p) => p.nextHop).sort(), ["10.99.0.11", "10.99.0.12"]);
    assert.ok(r.paths.every((p) => p.peer === "10.99.0.1"));
    await waitFor("IPv6 route at tabby", async () => (await routes("ipv6")).some((x) => x.prefix === "fd70::/64" && x.paths[0]!.nextHop === "fd99::11"));

    // tabby's routes at GoBGP
    await waitFor(
      "GoBGP learns tabby's routes",
      () => gobgp("neighbor", "10.99.0.2", "adj-in").includes("10.80.0.0/24") && gobgp("neighbor", "10.99.0.2", "adj-in", "-a", "ipv6").includes("fd80::/64"),
    );
    const adjIn = gobgp("neighbor", "10.99.0.2", "adj-in");
    assert.match(adjIn, /10\.80\.0\.0\/24\s+10\.99\.0\.2/);
    assert.match(gobgp("neighbor", "10.99.0.2", "adj-in", "-a", "ipv6"), /fd80::\/64\s+fd99::2/);

    // withdraw one of the two paths
    gobgp("global", "rib", "del", "10.70.0.0/24", "identifier", "1");
    await waitFor("one path left", async () => ((await routes("ipv4")).find((x) => x.prefix === "10.70.0.0/24")?.paths.length ?? 0) === 1);
    assert.equal((await routes("ipv4")).find((x) => x.prefix === "10.70.0.0/24")!.paths[0]!.nextHop, "10.99.0.12");

    // clean stop of tabby: GoBGP drops tabby's routes
    process.kill(tabby.pid!, "SIGTERM");
    await tabbyExited;
    await waitFor("GoBGP drops tabby's routes", () => !gobgp("global", "rib").includes("10.80.0.0/24"));
  } catch (err) {
    process.stderr.write(
      `--- tabby log ---\n${readFileSync(join(dir, "tabby.log"), "utf8").slice(-6000)}\n--- gobgpd log ---\n${readFileSync(join(dir, "gobgpd.log"), "utf8").slice(-4000)}\n`,
    );
    throw err;
  }
});
