/**
 * GTSM (RFC 5082) against the issue #19 impersonation, without the dataplane's drop: a workload
 * behind h1, masqueraded to h1's address (natOutgoing as it was before the drop), opens BGP to
 * h2 as h1. h2 is a `tabby bgp run` whose peer for h1 is exactly what the agent computes for a
 * mesh peer on the same /24 (bgp-peers.ts: ttlSecurity 1 by default). Whatever TTL the workload
 * sends with — 64, or 255 as a GTSM peer does — h1 takes one off when it forwards, so its SYN
 * reaches h2 with 63 or 254, from the right address, and is refused at accept: no OPEN comes
 * back, no route. The control: h1 itself, one link away, sending with 255 gets h2's OPEN.
 * No nft drop here at all (these namespaces have none): GTSM alone holds. Needs root and koffi.
 *
 *   w (10.95.1.2) — h1 (10.95.1.1 | 10.95.0.12, masquerade) — h2 (10.95.0.11, the speaker)
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { queryControl } from "../../src/bgp/control.js";
import type { PeerStatus } from "../../src/bgp/speaker.js";
import { applyKeyUpdate, emptyHostState } from "../../src/calc/host-state.js";
import { computePeerPlan } from "../../src/calc/bgp-peers.js";
import { CLI, run, waitFor } from "../helpers.js";

const canRun = process.getuid?.() === 0;
const tag = `tgw${process.pid % 100000}`;
const ns = { w: `${tag}w`, h1: `${tag}h1`, h2: `${tag}h2` };
const dir = mkdtempSync(join(tmpdir(), "tabby-gtsm-wl-"));
const ATTACKER = fileURLToPath(new URL("./attacker.js", import.meta.url));
const H1 = "10.95.0.12";
const H2 = "10.95.0.11";
const sock = join(dir, "h2.sock");
let speaker: ChildProcess | undefined;

async function sh(...args: string[]): Promise<void> {
  const r = await run(args[0]!, args.slice(1));
  assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
}

before(async () => {
  if (!canRun) return;
  for (const n of Object.values(ns)) await sh("ip", "netns", "add", n);
  await sh("ip", "link", "add", `${tag}a`, "netns", ns.w, "type", "veth", "peer", "name", "wl", "netns", ns.h1);
  await sh("ip", "link", "add", `${tag}b`, "netns", ns.h1, "type", "veth", "peer", "name", `${tag}c`, "netns", ns.h2);
  await sh("ip", "-n", ns.w, "link", "set", `${tag}a`, "name", "eth0");
  await sh("ip", "-n", ns.h1, "link", "set", `${tag}b`, "name", "eth0");
  await sh("ip", "-n", ns.h2, "link", "set", `${tag}c`, "name", "eth0");
  for (const [n, dev, a] of [
    [ns.w, "eth0", "10.95.1.2/24"],
    [ns.h1, "wl", "10.95.1.1/24"],
    [ns.h1, "eth0", `${H1}/24`],
    [ns.h2, "eth0", `${H2}/24`],
  ] as const) {
    await sh("ip", "-n", n, "addr", "add", a, "dev", dev);
  }
  for (const [n, dev] of [
    [ns.w, "eth0"],
    [ns.h1, "wl"],
    [ns.h1, "eth0"],
    [ns.h2, "eth0"],
    [ns.w, "lo"],
    [ns.h1, "lo"],
    [ns.h2, "lo"],
  ] as const)
    await sh("ip", "-n", n, "link", "set", dev, "up");
  await sh("ip", "-n", ns.w, "route", "add", "default", "via", "10.95.1.1");
  await sh("ip", "netns", "exec", ns.h1, "sysctl", "-qw", "net.ipv4.ip_forward=1");
  // natOutgoing as it was before the dataplane excluded node addresses: the workload leaves as h1
  const nat = `table ip wnat {\n chain post {\n  type nat hook postrouting priority 100;\n  oifname "eth0" ip saddr 10.95.1.0/24 masquerade\n }\n}\n`;
  const r = await run("ip", ["netns", "exec", ns.h1, "nft", "-f", "-"], { input: nat });
  assert.equal(r.code, 0, r.stderr);

  // h2's peer for h1, as the agent computes it from the two Node resources
  const s = emptyHostState();
  for (const [name, addr] of [
    ["h1", `${H1}/24`],
    ["h2", `${H2}/24`],
  ]) {
    applyKeyUpdate(
      s,
      `/calico/resources/v3/projectcalico.org/nodes/${name}`,
      JSON.stringify({ kind: "Node", metadata: { name }, spec: { bgp: { ipv4Address: addr } } }),
    );
  }
  const peers = computePeerPlan(s, "h2").peers;
  assert.equal(peers.length, 1);
  const p = peers[0]!;
  assert.deepEqual([p.address, p.type, p.ttlSecurity, p.passive], [H1, "mesh", 1, true], "the mesh default: GTSM with one hop; h2, the lower address, waits");
  const conf = {
    routerId: H2,
    asNumber: 64512,
    listen: { address: H2, port: 179 },
    control: sock,
    peers: [
      {
        address: p.address,
        asNumber: p.asNumber,
        passive: p.passive,
        localAddress: p.localAddress,
        ttlSecurity: p.ttlSecurity,
        expectedRouterId: p.expectedRouterId,
        holdTime: 9,
        import: [{ action: "accept" }],
      },
    ],
  };
  writeFileSync(join(dir, "h2.yaml"), stringify(conf));
  const log = openSync(join(dir, "h2.log"), "a");
  speaker = spawn("ip", ["netns", "exec", ns.h2, process.execPath, CLI, "bgp", "run", "-c", join(dir, "h2.yaml"), "-v"], { stdio: ["ignore", log, log] });
  await waitFor(async () => (await run("ip", ["netns", "exec", ns.h2, "ss", "-Htln", "sport", "=", ":179"])).stdout.includes(H2), 100, 100);
});

after(async () => {
  if (speaker?.pid && speaker.exitCode === null && speaker.signalCode === null) process.kill(speaker.pid, "SIGKILL");
  if (canRun) for (const n of Object.values(ns)) await run("ip", ["netns", "del", n]);
  rmSync(dir, { recursive: true, force: true });
});

async function attack(from: string, ...args: string[]): Promise<{ connected: boolean; received: string[] }> {
  const r = await run("ip", ["netns", "exec", from, process.execPath, ATTACKER, ...args]);
  assert.equal(r.code, 0, `attacker ${args.join(" ")}: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split("\n").at(-1)!) as { connected: boolean; received: string[] };
}
const peerH1 = async () => ((await queryControl(sock, { op: "peers" })) as PeerStatus[]).find((p) => p.address === H1)!;
const hijacked = async () => JSON.stringify(await queryControl(sock, { op: "routes", family: "ipv4" })).includes("8.8.8.0");
const logTail = () => readFileSync(join(dir, "h2.log"), "utf8").slice(-3000);

for (const [mode, ttl] of [
  ["bgp", 63],
  ["bgp255", 254],
] as const) {
  test(`a workload masqueraded as h1, sending with TTL ${ttl + 1}, is refused by h2's GTSM (SYN arrives with ${ttl})`, {
    skip: !canRun && "needs root",
    timeout: 60_000,
  }, async () => {
    try {
      const got = await attack(ns.w, mode, H2, "179", "64512", H1, H1, "8.8.8.0/24");
      assert.ok(!got.received.includes("open"), `h2 answered the impostor: ${JSON.stringify(got)}`);
      const err = (await peerH1()).lastError ?? "";
      assert.match(err, new RegExp(`GTSM: SYN arrived with TTL ${ttl}, below 255`), "refused as h1, by its TTL: the source address was h1's");
      assert.equal((await peerH1()).established, false);
      assert.equal(await hijacked(), false);
    } catch (e) {
      process.stderr.write(`--- h2 log ---\n${logTail()}\n`);
      throw e;
    }
  });
}

test("the control: h1 itself, one link away, sending with TTL 255, gets h2's OPEN", { skip: !canRun && "needs root", timeout: 60_000 }, async () => {
  const got = await attack(ns.h1, "bgp255", H2, "179", "64512", H1, H1, "8.8.8.0/24");
  assert.ok(got.received.includes("open"), `h2 did not answer its real peer: ${JSON.stringify(got)}\n${logTail()}`);
});
