/**
 * Host endpoints against the real kernel (calico-spec §3.3 item 4): namespaces
 * `ttnf<pid>h{h,u,w}`: a host h with uplink up0 to u (the outside) and one workload w.
 * Failsafe ports stay open under default deny; normal policy judges traffic to the host;
 * forwarded traffic is allowed until an applyOnForward policy applies; preDNAT policy judges
 * ingress before routing (to the host and forwarded); doNotTrack allow bypasses conntrack
 * (checked with a probe table counting untracked packets).
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";
import { ExecRunner } from "../src/dataplane/exec.js";
import { NftDataplane } from "../src/dataplane/nft/driver.js";
import type { EndpointDirectionPolicy, HostEndpointUpdate, PolicyDataplaneEvent } from "../src/calc/policy-output.js";
import { minimalConfig } from "../src/testkit/dataplane/nft/fixtures.js";
import { plumbUplink, plumbWorkload } from "./workload-plumbing.js";

const P = `ttnf${process.pid}h`;
const H = `${P}h`;
const U = `${P}u`;
const W = `${P}w`;
const WIF = "tab00000000e01";
const HOST = "192.168.252.1";
const OUT = "192.168.252.2";
const WL = "10.66.0.1";
const TOOL = fileURLToPath(new URL("./nft-netns.js", import.meta.url));
const canRun = process.getuid?.() === 0 && spawnSync("nft", ["--version"]).status === 0;

const ip = (ns: string, ...args: string[]) => execFileSync("ip", ["-n", ns, ...args], { encoding: "utf8" });
const inNs = (ns: string, ...args: string[]) => execFileSync("ip", ["netns", "exec", ns, ...args], { encoding: "utf8" });
const children: ChildProcess[] = [];

async function serve(ns: string, ports: number[]): Promise<void> {
  const srv = spawn("ip", ["netns", "exec", ns, process.execPath, TOOL, "serve", ...ports.map(String)], { stdio: ["ignore", "pipe", "inherit"] });
  children.push(srv);
  await new Promise<void>((resolve) => createInterface({ input: srv.stdout! }).once("line", () => resolve()));
}

before(async () => {
  if (!canRun) return;
  for (const ns of [H, U, W]) {
    execFileSync("ip", ["netns", "add", ns]);
    ip(ns, "link", "set", "lo", "up");
  }
  plumbUplink(H, U, { host: HOST, up: OUT });
  ip(U, "route", "add", "10.66.0.0/16", "via", HOST);
  plumbWorkload(H, W, WIF, WL);
  await serve(H, [22, 80, 8080]);
  await serve(W, [80, 8080]);
});

after(() => {
  for (const c of children) if (c.pid && c.exitCode === null) c.kill();
  for (const ns of [W, U, H]) {
    try {
      execFileSync("ip", ["netns", "del", ns]);
    } catch {
      /* already gone */
    }
  }
});

const tcp = (from: string, host: string, port: number) =>
  spawnSync("ip", ["netns", "exec", from, process.execPath, TOOL, "connect", host, String(port)]).status === 0;
const reach = (check: () => boolean) => check() || check();

const NONE: EndpointDirectionPolicy = { tiers: [], profiles: [] };
const tier = (...policies: string[]): EndpointDirectionPolicy => ({ tiers: [{ name: "default", defaultAction: "deny", policies }], profiles: [] });
function hep(over: Partial<Omit<HostEndpointUpdate, "kind" | "id" | "iface">> = {}): HostEndpointUpdate {
  return {
    kind: "host-endpoint-update",
    id: "h-up0",
    iface: "up0",
    normal: { ingress: NONE, egress: NONE },
    forward: { ingress: NONE, egress: NONE },
    preDnat: { ingress: NONE },
    untracked: { ingress: NONE, egress: NONE },
    ...over,
  };
}
const allowPort = (id: string, port: number): PolicyDataplaneEvent => ({
  kind: "policy-update",
  id,
  ingress: [{ id: "r", action: "allow", match: { protocol: 6, dstPorts: [{ first: port, last: port }] } }],
  egress: [{ id: "r", action: "allow", match: { protocol: 6, srcPorts: [{ first: port, last: port }] } }],
});

const dp = new NftDataplane(new ExecRunner(), { netns: H });

test("host endpoints: failsafe, normal, applyOnForward, preDNAT, doNotTrack", { skip: !canRun }, async () => {
  await dp.apply([
    minimalConfig({ logPrefix: "ttnf" }),
    { kind: "policy-update", id: "pro/open", ingress: [{ id: "o", action: "allow", match: {} }], egress: [{ id: "o", action: "allow", match: {} }] },
    {
      kind: "workload-endpoint-update",
      id: "wep/w",
      iface: WIF,
      addrs: [`${WL}/32`],
      allowSpoofedSources: [],
      ingress: { tiers: [], profiles: ["pro/open"] },
      egress: { tiers: [], profiles: ["pro/open"] },
    },
    { kind: "in-sync" },
  ]);
  assert.ok(
    reach(() => tcp(U, HOST, 80)),
    "no host endpoint: host open",
  );
  assert.ok(
    reach(() => tcp(U, WL, 80)),
    "forwarded to the workload",
  );

  // A host endpoint with no policy: default deny except failsafe; forwarding unaffected.
  await dp.apply([hep()]);
  assert.ok(tcp(U, HOST, 22), "failsafe inbound tcp/22");
  assert.ok(!tcp(U, HOST, 80), "default deny on the host endpoint");
  assert.ok(tcp(U, WL, 80), "forwarded traffic allowed without applyOnForward policy");

  // Normal ingress policy: tcp/80 and tcp/8080 to the host.
  await dp.apply([allowPort("gnp/h80", 80), allowPort("gnp/h8080", 8080), hep({ normal: { ingress: tier("gnp/h80", "gnp/h8080"), egress: NONE } })]);
  assert.ok(tcp(U, HOST, 80));
  assert.ok(tcp(U, HOST, 8080));

  // applyOnForward: only tcp/8080 may be forwarded in through up0.
  await dp.apply([hep({ normal: { ingress: tier("gnp/h80", "gnp/h8080"), egress: NONE }, forward: { ingress: tier("gnp/h8080"), egress: NONE } })]);
  assert.ok(tcp(U, WL, 8080), "forward policy allows 8080");
  assert.ok(!tcp(U, WL, 80), "end of tier drops forwarded 80");
  assert.ok(tcp(U, HOST, 80), "forward policy does not judge traffic to the host");

  // preDNAT: deny tcp/8080 on ingress, before routing: to the host and forwarded.
  await dp.apply([
    {
      kind: "policy-update",
      id: "gnp/pd-deny-8080",
      ingress: [{ id: "r", action: "deny", match: { protocol: 6, dstPorts: [{ first: 8080, last: 8080 }] } }],
      egress: [],
    },
    hep({
      normal: { ingress: tier("gnp/h80", "gnp/h8080"), egress: NONE },
      forward: { ingress: tier("gnp/h8080"), egress: NONE },
      preDnat: { ingress: tier("gnp/pd-deny-8080") },
    }),
  ]);
  assert.ok(!tcp(U, HOST, 8080), "preDNAT deny to the host");
  assert.ok(!tcp(U, WL, 8080), "preDNAT deny forwarded");
  assert.ok(tcp(U, HOST, 80), "no preDNAT match: normal policy decides (no end-of-tier drop in preDNAT)");

  // doNotTrack: tcp/80 both ways untracked; the host endpoint's normal policy then allows nothing,
  // yet the untracked allow accepts it, and the probe sees the packets untracked.
  inNs(H, "nft", "add", "table", "inet", "ttnfprobe");
  inNs(H, "nft", "add", "chain", "inet", "ttnfprobe", "in", "{ type filter hook input priority 10; }");
  inNs(H, "nft", "add", "rule", "inet", "ttnfprobe", "in", "tcp", "dport", "80", "ct", "state", "untracked", "counter");
  await dp.apply([hep({ untracked: { ingress: tier("gnp/h80"), egress: tier("gnp/h80") } })]);
  assert.ok(tcp(U, HOST, 80), "untracked allow, both directions");
  assert.ok(!tcp(U, HOST, 8080), "normal default deny still applies to the rest");
  const probe = inNs(H, "nft", "list", "chain", "inet", "ttnfprobe", "in");
  assert.match(probe, /counter packets [1-9]/, "tcp/80 arrived untracked");
  assert.deepEqual(await dp.drift(), []);
});
