/**
 * The agent's BGP model against real daemons, in namespaces on one bridge: three hosts running
 * `tabby node run` (h1 in rack a, h2 in rack b, h3 a route reflector node), BIRD 2 and FRR bgpd
 * (`bgpd -Z -S`, private directory) as top-of-rack routers, everything configured from the
 * datastore with the node-to-node mesh off:
 * - a BGPPeer with `nodeSelector: rack == 'a'` is opened by h1 only: h2 lists no such peer and
 *   BIRD's passive protocol for h2 never sees a connection;
 * - BGP passwords come from `password.secretKeyRef` files (`--secrets-dir`): the matching key
 *   establishes with BIRD and with FRR, a stale key never does and status says why, a missing
 *   key is a refused peering, not a session without password;
 * - an IPv6 peerIP: h1's session to BIRD over IPv6, bound to its IPv6 address, brings BIRD's
 *   IPv6 route into its kernel;
 * - `reachableBy`: h3 reaches a peer that is on no connected network (BIRD's loopback address)
 *   through the host route the agent programs via the given gateway;
 * - h3 with `routeReflectorClusterID` reflects between h1 and h2 (a BGPPeer with peerSelector,
 *   and its automatic reverse): each learns the other's block through h3 into its kernel.
 * Needs root, bird2 and FRR; skipped without them.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sh, waitFor } from "./bird-tabby-pair.js";
import { queryControl } from "../src/bgp/control.js";
import { openStore } from "../src/datastore/open.js";
import { ResourceClient } from "../src/datastore/resource-client.js";
import type { AgentPeerStatus } from "../src/agent/agent.js";
import { tabby, stopByPidFile, deleteNetns } from "./helpers.js";

const BGPD = "/usr/lib/frr/bgpd";
const canRun = process.getuid?.() === 0 && existsSync("/usr/sbin/bird") && existsSync(BGPD) && existsSync("/usr/bin/vtysh");
const skip = canRun ? false : "needs root, bird2 and FRR";

const TAG = `tbp${process.pid % 100000}`;
const NS = { br: `${TAG}br`, h1: `${TAG}h1`, h2: `${TAG}h2`, h3: `${TAG}h3`, bird: `${TAG}bi`, frr: `${TAG}fr` };
const ADDR: Record<string, string[]> = {
  h1: ["10.97.0.11"],
  h2: ["10.97.0.12"],
  h3: ["10.97.0.13"],
  bird: ["10.97.0.201", "10.97.0.203"],
  frr: ["10.97.0.202"],
};
// every host has IPv6: the IPv6 route h1 learns from BIRD is reflected to h2 as well
const ADDR6: Record<string, string> = { h1: "fd97::11", h2: "fd97::12", h3: "fd97::13", bird: "fd97::201" };
const dir = mkdtempSync(join(tmpdir(), "tabby-bgppeer-"));
const datastore = `sqlite://${join(dir, "tabby.db")}`;
const main = new URL("../src/cli/main.js", import.meta.url).pathname;
const agents = new Map<string, ChildProcess>();
const sock = (h: string) => join(dir, `${h}.sock`);
const peers = async (h: string) => (await queryControl(sock(h), { op: "peers" })) as AgentPeerStatus[];
const peer = async (h: string, addr: string) => (await peers(h)).find((p) => p.address === addr);
const birdc = (...args: string[]) => sh("birdc", ["-s", join(dir, "bird.ctl"), ...args]);
const vtysh = (cmd: string) => sh("vtysh", ["--vty_socket", join(dir, "frr"), "--config_dir", join(dir, "frr"), "-d", "bgpd", "-c", cmd]);
/** A subtest that prints the agents' logs when it fails. */
const logged = (fn: () => Promise<void>) => async () => {
  try {
    await fn();
  } catch (err) {
    process.stderr.write(logs() + "\n");
    throw err;
  }
};
const logs = () => [...agents.keys()].map((h) => `--- ${h} ---\n${readFileSync(join(dir, `${h}.log`), "utf8").slice(-3000)}`).join("\n");

const BIRD_CONF = `router id 10.97.0.201;
log "${join(dir, "bird.log")}" all;
protocol device { scan time 1; }
protocol direct { ipv4; interface "eth0"; }
protocol static s4 { ipv4; route 10.20.1.0/24 blackhole; }
protocol static s6 { ipv6; route fd20:1::/64 blackhole; }
template bgp tor {
  local as 65000; hold time 9; connect retry time 1; connect delay time 1; error wait time 1, 5;
  ipv4 { import all; export where proto = "s4"; };
}
protocol bgp h1 from tor { local 10.97.0.201; neighbor 10.97.0.11 as 64512; password "tor-secret"; }
protocol bgp h2 from tor { local 10.97.0.201; neighbor 10.97.0.12 as 64512; password "tor-secret"; passive on; }
protocol bgp oldkey from tor { local 10.97.0.203; neighbor 10.97.0.11 as 64512; password "tor-secret"; }
# exports nothing: its next hop (10.96.5.5) would be a recursive one, which is the fabric work's
protocol bgp far {
  local 10.96.5.5 as 65000; neighbor 10.97.0.13 as 64512; multihop; password "tor-secret";
  hold time 9; connect retry time 1; connect delay time 1; error wait time 1, 5;
  ipv4 { import all; export none; };
}
protocol bgp h1v6 {
  local fd97::201 as 65000; neighbor fd97::11 as 64512; password "tor-secret";
  hold time 9; connect retry time 1; connect delay time 1; error wait time 1, 5;
  ipv6 { import all; export where proto = "s6"; };
}
`;

const FRR_CONF = `hostname torfrr
log file ${join(dir, "frr", "bgpd.log")}
router bgp 65000
 bgp router-id 10.97.0.202
 no bgp ebgp-requires-policy
 neighbor 10.97.0.11 remote-as 64512
 neighbor 10.97.0.11 password tor-secret
 neighbor 10.97.0.11 timers 3 9
 neighbor 10.97.0.11 timers connect 1
 address-family ipv4 unicast
  network 10.20.2.0/24
  neighbor 10.97.0.11 activate
 exit-address-family
`;

before(async () => {
  if (!canRun) return;
  for (const ns of Object.values(NS)) sh("ip", ["netns", "add", ns]);
  sh("ip", ["-n", NS.br, "link", "add", "br0", "type", "bridge"]);
  sh("ip", ["-n", NS.br, "link", "set", "br0", "up"]);
  let i = 0;
  for (const [role, addrs] of Object.entries(ADDR)) {
    const ns = NS[role as keyof typeof NS];
    const veth = `${TAG}v${i++}`;
    sh("ip", ["link", "add", veth, "netns", NS.br, "type", "veth", "peer", "name", "eth0", "netns", ns]);
    sh("ip", ["-n", NS.br, "link", "set", veth, "master", "br0", "up"]);
    for (const a of addrs) sh("ip", ["-n", ns, "addr", "add", `${a}/24`, "dev", "eth0"]);
    if (role === "bird") sh("ip", ["-n", ns, "addr", "add", "10.96.5.5/32", "dev", "lo"]);
    if (ADDR6[role]) sh("ip", ["-n", ns, "addr", "add", `${ADDR6[role]}/64`, "dev", "eth0", "nodad"]);
    sh("ip", ["-n", ns, "link", "set", "eth0", "up"]);
    sh("ip", ["-n", ns, "link", "set", "lo", "up"]);
  }
  // secrets: the key BIRD and FRR use, and one that has since changed on the routers
  mkdirSync(join(dir, "secrets", "bgp"), { recursive: true, mode: 0o700 });
  writeFileSync(join(dir, "secrets", "bgp", "tor"), "tor-secret\n", { mode: 0o600 });
  writeFileSync(join(dir, "secrets", "bgp", "stale"), "old-secret\n", { mode: 0o600 });

  const store = await openStore(datastore, {});
  const client = new ResourceClient(store);
  const V3 = "projectcalico.org/v3";
  const res = [
    { kind: "BGPConfiguration", metadata: { name: "default" }, spec: { asNumber: 64512, nodeToNodeMeshEnabled: false } },
    { kind: "IPPool", metadata: { name: "pool" }, spec: { cidr: "10.65.0.0/16", blockSize: 26 } },
    { kind: "Node", metadata: { name: "h1", labels: { rack: "a" } }, spec: { bgp: { ipv4Address: "10.97.0.11/24" } } },
    { kind: "Node", metadata: { name: "h2", labels: { rack: "b" } }, spec: { bgp: { ipv4Address: "10.97.0.12/24" } } },
    {
      kind: "Node",
      metadata: { name: "h3", labels: { "route-reflector": "true" } },
      spec: { bgp: { ipv4Address: "10.97.0.13/24", routeReflectorClusterID: "224.0.0.1" } },
    },
    { kind: "BGPPeer", metadata: { name: "to-rr" }, spec: { nodeSelector: "!has(route-reflector)", peerSelector: "has(route-reflector)" } },
    {
      kind: "BGPPeer",
      metadata: { name: "tor-bird" },
      spec: { nodeSelector: "rack == 'a'", peerIP: "10.97.0.201", asNumber: 65000, password: { secretKeyRef: { name: "bgp", key: "tor" } } },
    },
    {
      kind: "BGPPeer",
      metadata: { name: "tor-frr" },
      spec: { nodeSelector: "rack == 'a'", peerIP: "10.97.0.202", asNumber: 65000, password: { secretKeyRef: { name: "bgp", key: "tor" } } },
    },
    {
      kind: "BGPPeer",
      metadata: { name: "tor-stale" },
      spec: { nodeSelector: "rack == 'a'", peerIP: "10.97.0.203", asNumber: 65000, password: { secretKeyRef: { name: "bgp", key: "stale" } } },
    },
    {
      kind: "BGPPeer",
      metadata: { name: "tor-bird6" },
      spec: { nodeSelector: "rack == 'a'", peerIP: "[fd97::201]:179", asNumber: 65000, password: { secretKeyRef: { name: "bgp", key: "tor" } } },
    },
    {
      kind: "BGPPeer",
      metadata: { name: "far" },
      spec: { node: "h3", peerIP: "10.96.5.5", asNumber: 65000, reachableBy: "10.97.0.201", password: { secretKeyRef: { name: "bgp", key: "tor" } } },
    },
    {
      kind: "BGPPeer",
      metadata: { name: "tor-missing" },
      spec: { node: "h2", peerIP: "10.97.0.204", asNumber: 65000, password: { secretKeyRef: { name: "bgp", key: "missing" } } },
    },
  ];
  for (const r of res) await client.create({ apiVersion: V3, ...r } as never);
  // each host's block, as IPAM would have claimed it
  for (const [h, b] of [
    ["h1", "10.65.1.0-26"],
    ["h2", "10.65.2.0-26"],
  ])
    await store.put(`/calico/ipam/v2/host/${h}/ipv4/block/${b}`, JSON.stringify({ state: "confirmed", deleted: false }));
  await store.close();

  writeFileSync(join(dir, "bird.conf"), BIRD_CONF);
  sh("ip", ["netns", "exec", NS.bird, "bird", "-c", join(dir, "bird.conf"), "-s", join(dir, "bird.ctl"), "-P", join(dir, "bird.pid")]);
  mkdirSync(join(dir, "frr"));
  writeFileSync(join(dir, "frr", "bgpd.conf"), FRR_CONF);
  writeFileSync(join(dir, "frr", "vtysh.conf"), "");
  sh("ip", [
    "netns",
    "exec",
    NS.frr,
    BGPD,
    "-d",
    "-Z",
    "-S",
    "-P",
    "0",
    "-f",
    join(dir, "frr", "bgpd.conf"),
    "-i",
    join(dir, "frr", "bgpd.pid"),
    "--vty_socket",
    join(dir, "frr"),
  ]);
  for (const h of ["h1", "h2", "h3"]) {
    const fd = openSync(join(dir, `${h}.log`), "a");
    const args = [
      "netns",
      "exec",
      NS[h as "h1"],
      process.execPath,
      main,
      "node",
      "run",
      "--name",
      h,
      "--ip",
      `${ADDR[h]![0]}/24`,
      "--ip6",
      ADDR6[h] ? `${ADDR6[h]}/64` : "none",
      "--datastore",
      datastore,
      "--control",
      sock(h),
      "--secrets-dir",
      join(dir, "secrets"),
      "--hold-time",
      "9",
      "--ipam-gc-grace",
      "off",
    ];
    agents.set(h, spawn("ip", args, { stdio: ["ignore", fd, fd] }));
  }
});

after(() => {
  if (!canRun) return;
  for (const a of agents.values()) if (a.pid && a.exitCode === null && a.signalCode === null) process.kill(a.pid, "SIGKILL");
  for (const pidFile of [join(dir, "bird.pid"), join(dir, "frr", "bgpd.pid")]) {
    stopByPidFile(pidFile);
  }
  deleteNetns(Object.values(NS));
  if (!process.env["TABBY_TEST_KEEP"]) rmSync(dir, { recursive: true, force: true });
});

test("BGPPeer nodeSelector, secretKeyRef passwords with BIRD and FRR, and an in-cluster route reflector, from the datastore", {
  skip,
  timeout: 180_000,
}, async (t) => {
  try {
    await t.test(
      "a peer for rack a: h1 establishes with BIRD and FRR using the password from its secret; h2 opens no session",
      logged(async () => {
        await waitFor(
          "h1 Established with BIRD and FRR",
          async () => (await peer("h1", "10.97.0.201"))?.established === true && (await peer("h1", "10.97.0.202"))?.established === true,
          60_000,
        );
        assert.match(birdc("show", "protocols", "h1"), /Established/);
        const n = JSON.parse(vtysh("show bgp neighbors 10.97.0.11 json")) as Record<string, { bgpState?: string }>;
        assert.equal(n["10.97.0.11"]?.bgpState, "Established");
        const h1 = await peers("h1");
        assert.deepEqual(
          h1.filter((p) => p.source?.startsWith("tor-")).map((p) => [p.address, p.type, p.source]),
          [
            ["10.97.0.201", "node-specific", "tor-bird"],
            ["fd97::201", "node-specific", "tor-bird6"],
            ["10.97.0.202", "node-specific", "tor-frr"],
            ["10.97.0.203", "node-specific", "tor-stale"],
          ],
        );
        const h2 = await peers("h2");
        assert.ok(!h2.some((p) => ["10.97.0.201", "10.97.0.202", "10.97.0.203"].includes(p.address)), JSON.stringify(h2));
        assert.doesNotMatch(birdc("show", "protocols", "h2"), /Established/);
        assert.doesNotMatch(birdc("show", "protocols", "all", "h2"), /Last error/, "nothing ever connected to BIRD's passive protocol for h2");
      }),
    );

    await t.test(
      "an IPv6 peerIP: a session over IPv6 from the node's IPv6 address, BIRD's IPv6 route in the kernel",
      logged(async () => {
        await waitFor("h1 Established with BIRD over IPv6", async () => (await peer("h1", "fd97::201"))?.established === true, 60_000);
        assert.match(birdc("show", "protocols", "all", "h1v6"), /Established[\s\S]*Source address:\s+fd97::201/);
        await waitFor("fd20:1::/64 via BIRD in h1's kernel", () => /via fd97::201/.test(sh("ip", ["-n", NS.h1, "-6", "route", "show", "fd20:1::/64"])), 30_000);
      }),
    );

    await t.test(
      "reachableBy: a host route to the peer via the gateway, and the session over it",
      logged(async () => {
        await waitFor("h3 Established with BIRD's loopback address", async () => (await peer("h3", "10.96.5.5"))?.established === true, 60_000).catch(
          (err: Error) => {
            throw new Error(`${err.message}\n${birdc("show", "protocols", "all", "far")}`);
          },
        );
        assert.match(sh("ip", ["-n", NS.h3, "route", "show", "10.96.5.5"]), /^10\.96\.5\.5 via 10\.97\.0\.201 dev eth0 proto 152/);
        assert.equal(sh("ip", ["-n", NS.h2, "route", "show", "10.96.5.5"]).trim(), "", "only on the node the BGPPeer is for");
        assert.equal((await peer("h3", "10.96.5.5"))!.type, "node-specific");
      }),
    );

    await t.test(
      "a stale key never establishes and status says why; a missing secret is a refused peering",
      logged(async () => {
        // several connect retries on both sides first
        await new Promise((r) => setTimeout(r, 5000));
        const stale = (await peer("h1", "10.97.0.203"))!;
        assert.equal(stale.established, false);
        assert.ok(!["OpenSent", "OpenConfirm", "Established"].includes(stale.state), stale.state);
        assert.match(stale.reason ?? "", /TCP-MD5 is on for this peer, and a password mismatch/);
        assert.doesNotMatch(birdc("show", "protocols", "oldkey"), /Established/);
        const missing = (await peers("h2")).find((p) => p.source === "tor-missing")!;
        assert.deepEqual([missing.address, missing.state], ["10.97.0.204", "Refused"]);
        assert.match(missing.reason!, /password: .*bgp\/missing does not exist/);
        const text = await tabby(["node", "status", "--control", sock("h2")]);
        assert.equal(text.code, 0, text.stderr);
        assert.match(text.stdout, /10\.97\.0\.204\s+-\s+-\s+tor-missing\s+Refused/);
      }),
    );

    await t.test(
      "h3 (routeReflectorClusterID) reflects between its clients h1 and h2, mesh off",
      logged(async () => {
        await waitFor(
          "h3 Established with h1 and h2",
          async () => (await peers("h3")).filter((p) => p.established && p.type === "node-peer").length === 2,
          60_000,
        );
        const h3 = await peers("h3");
        assert.deepEqual(
          h3.filter((p) => p.type === "node-peer").map((p) => [p.address, p.rrClient]),
          [
            ["10.97.0.11", true],
            ["10.97.0.12", true],
          ],
        );
        assert.deepEqual(
          (await peers("h2")).filter((p) => p.type === "node-peer").map((p) => [p.address, p.rrClient]),
          [["10.97.0.13", undefined]],
          "h2 peers with the reflector only",
        );
        await waitFor(
          "h1 routes h2's block via h2, learned through h3",
          () => /via 10\.97\.0\.12/.test(sh("ip", ["-n", NS.h1, "route", "show", "10.65.2.0/26"])),
          30_000,
        );
        await waitFor("h2 routes h1's block via h1", () => /via 10\.97\.0\.11/.test(sh("ip", ["-n", NS.h2, "route", "show", "10.65.1.0/26"])), 30_000);
        // a route h1 learned from its eBGP ToRs is never passed on (no transit, docs/bgp.md): by the
        // time the blocks went round through h3 it would have, so its absence now is meaningful
        assert.doesNotMatch(sh("ip", ["-n", NS.h2, "route", "show"]), /10\.20\.1\.0\/24/, "h1 passes no eBGP-learned route into the cluster");
      }),
    );
  } catch (err) {
    process.stderr.write(logs() + "\n");
    throw err;
  }
});
