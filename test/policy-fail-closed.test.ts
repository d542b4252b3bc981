/**
 * Fail closed (issue #12 step 2), end to end in namespaces: a GlobalNetworkPolicy whose Allow rule
 * has `http` criteria (refused by `tabby apply`, here written straight to the datastore as another
 * tool would) goes through the agent's policy calculation graph into the real nftables dataplane,
 * and never allows the traffic: the rule is skipped, so the tier's default deny drops it. The same
 * rule without `http` does allow it (so the test can fail), and a Deny with `services` criteria is
 * skipped too (Calico-like: an unenforceable rule never matches, whatever its action).
 * Namespaces `ttfc<pid>{h,u,a,b}`: h the host, u its upstream router, a and b workloads; removed in
 * after() even when a test fails. Needs root and nft.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";
import { ExecRunner } from "../src/dataplane/exec.js";
import { NftDataplane } from "../src/dataplane/nft/driver.js";
import { buildPolicyCalcGraph } from "../src/calc/policy/index.js";
import { unenforcedRulesOf } from "../src/calc/policy/unenforced.js";
import { decodeStored } from "../src/model/stored.js";
import { plumbUplink, plumbWorkload } from "./workload-plumbing.js";

const P = `ttfc${process.pid}`;
const H = `${P}h`;
const U = `${P}u`;
const W = { a: `${P}a`, b: `${P}b` } as const;
const IF = { a: "tab00000000fca", b: "tab00000000fcb" } as const;
const V4 = { a: "10.66.0.1", b: "10.66.0.2" } as const;
const TOOL = fileURLToPath(new URL("./nft-netns.js", import.meta.url));
const R = "/calico/resources/v3/projectcalico.org/";

const ip = (ns: string, ...args: string[]) => execFileSync("ip", ["-n", ns, ...args], { encoding: "utf8" });
const children: ChildProcess[] = [];
const canRun = process.getuid?.() === 0 && spawnSync("nft", ["--version"]).status === 0;

before(async () => {
  if (!canRun) return;
  for (const ns of [H, U, ...Object.values(W)]) {
    execFileSync("ip", ["netns", "add", ns]);
    ip(ns, "link", "set", "lo", "up");
  }
  plumbUplink(H, U, { host: "192.168.252.1", up: "192.168.252.2" });
  for (const k of ["a", "b"] as const) plumbWorkload(H, W[k], IF[k], V4[k]);
  const srv = spawn("ip", ["netns", "exec", W.b, process.execPath, TOOL, "serve", "80", "81"], { stdio: ["ignore", "pipe", "inherit"] });
  children.push(srv);
  await new Promise<void>((resolve) => createInterface({ input: srv.stdout! }).once("line", () => resolve()));
});

after(() => {
  for (const c of children) if (c.pid && c.exitCode === null) process.kill(c.pid);
  for (const ns of [...Object.values(W), U, H]) {
    try {
      execFileSync("ip", ["netns", "del", ns]);
    } catch {
      /* already gone */
    }
  }
});

function tcp(port: number): boolean {
  const once = () => spawnSync("ip", ["netns", "exec", W.a, process.execPath, TOOL, "connect", V4.b, String(port)]).status === 0;
  return once() || once(); // the first packet may wait on ARP
}

const obj = (kind: string, name: string, spec: object, extra: object = {}) =>
  JSON.stringify({ apiVersion: "projectcalico.org/v3", kind, metadata: { name, ...extra }, spec });
const wep = (k: "a" | "b") =>
  [
    `${R}workloadendpoints/prod/h1-k8s-${k}-eth0`,
    obj(
      "WorkloadEndpoint",
      `h1-k8s-${k}-eth0`,
      { node: "h1", orchestrator: "k8s", pod: k, endpoint: "eth0", interfaceName: IF[k], ipNetworks: [`${V4[k]}/32`], profiles: ["open"] },
      { namespace: "prod", labels: { app: k } },
    ),
  ] as const;
const OPEN = [`${R}profiles/open`, obj("Profile", "open", { ingress: [{ action: "Allow" }], egress: [{ action: "Allow" }] })] as const;
const GNP_KEY = `${R}globalnetworkpolicies/b-web`;
const gnp = (ingress: object[]) => obj("GlobalNetworkPolicy", "b-web", { selector: "app == 'b'", types: ["Ingress"], ingress });

const graph = buildPolicyCalcGraph("h1");
const dp = new NftDataplane(new ExecRunner(), { netns: H });
async function put(key: string, value: string | undefined): Promise<void> {
  graph.onUpdate(key, value);
  await dp.apply(graph.flush());
}

test("an Allow rule with http criteria never allows; without http it does; a Deny with services never denies", { skip: !canRun }, async () => {
  for (const [k, v] of [OPEN, wep("a"), wep("b")]) graph.onUpdate(k, v);
  graph.onInSync();
  await dp.apply(graph.flush());
  assert.ok(tcp(80), "open profile: a → b:80");

  // Allow tcp/80 only for GET /health: tabby cannot see HTTP, so the rule never matches.
  const httpAllow = gnp([{ action: "Allow", protocol: "TCP", destination: { ports: [80] }, http: { methods: ["GET"], paths: [{ exact: "/health" }] } }]);
  assert.equal(unenforcedRulesOf(GNP_KEY, decodeStored(httpAllow)).length, 1, "the agent reports the skipped rule");
  assert.match(unenforcedRulesOf(GNP_KEY, decodeStored(httpAllow))[0]!, /^GlobalNetworkPolicy b-web: spec\.ingress\[0\]\.http: rule skipped \(never matches\)/);
  await put(GNP_KEY, httpAllow);
  assert.ok(!tcp(80), "the http Allow must not allow a → b:80");
  assert.ok(!tcp(81), "nor anything else");

  // The same rule without http allows port 80 (and only 80): the setup can show an allow.
  await put(GNP_KEY, gnp([{ action: "Allow", protocol: "TCP", destination: { ports: [80] } }]));
  assert.ok(tcp(80), "plain Allow tcp/80");
  assert.ok(!tcp(81), "default deny for 81");

  // A Deny with services criteria is skipped: the Allow after it decides.
  await put(
    GNP_KEY,
    gnp([
      { action: "Deny", protocol: "TCP", source: { services: { name: "frontend", namespace: "prod" } } },
      { action: "Allow", protocol: "TCP", destination: { ports: [80] } },
    ]),
  );
  assert.ok(tcp(80), "the services Deny never matches; the Allow after it applies");
  assert.ok(!tcp(81));
});
