/**
 * One test per refused field class and per semantic rule (issue #12), through the CLI commands
 * in-process against an injected MemoryStore: exit code 1, a message naming the resource
 * (kind and name), the field path and why, and the datastore exactly as it was before.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { PassThrough, Readable } from "node:stream";
import { cliTestBed, runCli } from "../testkit/cli/cli-test-bed.js";
import type { Store } from "../datastore/store.js";
import * as apply from "./apply.js";
import * as create from "./create.js";
import * as del from "./delete.js";

const bed = cliTestBed("ttd2-refuse-");
const file = bed.file;

async function snapshot(s: Store): Promise<Record<string, string>> {
  return Object.fromEntries((await s.list("/")).items.map((kv) => [kv.key, kv.value]));
}

const doc = (kind: string, name: string, spec: string, ns = "") => `apiVersion: projectcalico.org/v3
kind: ${kind}
metadata:
  name: ${name}
${ns ? `  namespace: ${ns}\n` : ""}spec:
${spec}`;

const BASE = [
  doc("IPPool", "main", "  cidr: 10.1.0.0/16\n"),
  doc("Tier", "security", "  order: 100\n"),
  doc(
    "GlobalNetworkPolicy",
    "security.deny-bad",
    "  tier: security\n  selector: all()\n  ingress:\n  - action: Deny\n    source:\n      nets: [192.0.2.0/24]\n",
  ),
].join("---\n");

/** Applies BASE, then `verb` with the text; asserts a refusal naming `want` and an unchanged store. */
async function refused(text: string, want: RegExp, verb: typeof apply | typeof create = apply): Promise<string> {
  assert.equal((await runCli(apply, ["-f", file("base.yaml", BASE)])).code, 0);
  const before = await snapshot(bed.store);
  const r = await runCli(verb, ["-f", file("input.yaml", text)]);
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.stdout, "");
  assert.match(r.stderr, want);
  assert.deepEqual(await snapshot(bed.store), before, "the datastore is unchanged");
  return r.stderr;
}

test("IPPool ipipMode/vxlanMode: tunnels refused by name (pure layer 3)", async () => {
  await refused(
    doc("IPPool", "edge", "  cidr: 10.9.0.0/16\n  ipipMode: Always\n"),
    /input\.yaml: document 1: invalid IPPool "edge": spec\.ipipMode: Always is not supported: tabby is pure layer 3 and builds no tunnels; use Never \[MODEL_INVALID\]/,
  );
  await refused(doc("IPPool", "edge", "  cidr: 10.9.0.0/16\n  vxlanMode: CrossSubnet\n"), /spec\.vxlanMode: CrossSubnet is not supported/);
});

test("IPPool overlapping an existing pool is refused, also by a later document of the same file", async () => {
  await refused(
    doc("IPPool", "half", "  cidr: 10.1.128.0/17\n"),
    /input\.yaml: document 1: IPPool\(half\): invalid IPPool "half": spec\.cidr: 10\.1\.128\.0\/17 overlaps IPPool "main" \(10\.1\.0\.0\/16\); pools must not overlap \(nothing was changed\)/,
  );
  const two = [doc("IPPool", "x", "  cidr: 10.20.0.0/16\n"), doc("IPPool", "y", "  cidr: 10.20.4.0/24\n")].join("---\n");
  await refused(two, /document 2: IPPool\(y\): .*spec\.cidr: 10\.20\.4\.0\/24 overlaps IPPool "x"/);
});

test("IPPool cidr is immutable", async () => {
  await refused(
    doc("IPPool", "main", "  cidr: 10.2.0.0/16\n"),
    /IPPool\(main\): invalid IPPool "main": spec\.cidr: cannot be changed \(was 10\.1\.0\.0\/16, now 10\.2\.0\.0\/16\)/,
  );
});

test("policy rules with http or services criteria are refused (fail closed)", async () => {
  await refused(
    doc(
      "GlobalNetworkPolicy",
      "allow-health",
      "  selector: app == 'web'\n  ingress:\n  - action: Allow\n    protocol: TCP\n    http:\n      methods: [GET]\n      paths:\n      - exact: /health\n",
    ),
    /invalid GlobalNetworkPolicy "allow-health": spec\.ingress\[0\]\.http: HTTP match criteria are not enforced by tabby/,
  );
  await refused(
    doc("NetworkPolicy", "to-api", "  egress:\n  - action: Allow\n    destination:\n      services:\n        name: api\n", "prod"),
    /invalid NetworkPolicy "prod\/to-api": spec\.egress\[0\]\.destination\.services: Kubernetes Service matches are not enforced/,
  );
});

test("FelixConfiguration: a quoted failsafe port, an unhonoured value and an unknown field are each refused by path", async () => {
  const felix = (spec: string) => doc("FelixConfiguration", "default", spec);
  await refused(
    felix('  failsafeInboundHostPorts:\n  - protocol: tcp\n    port: "22"\n'),
    /invalid FelixConfiguration "default": spec\.failsafeInboundHostPorts\[0\]\.port: must be a number, not a string: write 22 without quotes/,
  );
  await refused(felix("  wireguardEnabled: true\n"), /spec\.wireguardEnabled: true is not honoured: tabby has no WireGuard encryption/);
  await refused(felix("  bpfEnabeld: true\n"), /spec\.bpfEnabeld: unknown field \(not a FelixConfiguration field\)/);
  await refused(felix("  routeRefreshInterval: 90\n"), /spec\.routeRefreshInterval: must be a duration/);
});

test("KubeControllersConfiguration and ClusterInformation: values nothing in tabby acts on are refused", async () => {
  await refused(
    doc("KubeControllersConfiguration", "default", "  controllers:\n    node:\n      hostEndpoint:\n        autoCreate: Enabled\n"),
    /spec\.controllers\.node\.hostEndpoint\.autoCreate: "Enabled" is not honoured: tabby runs no kube-controllers/,
  );
  await refused(doc("ClusterInformation", "default", "  datastoreReady: false\n"), /spec\.datastoreReady: false is not honoured/);
});

test("BGPFilter fields tabby does not implement are refused by path", async () => {
  await refused(
    doc("BGPFilter", "f", "  exportV4:\n  - action: Accept\n    cidr: 10.0.0.0/8\n    matchOperator: In\n    peerType: eBGP\n"),
    /invalid BGPFilter "f": spec\.exportV4\[0\]\.peerType: unknown field/,
  );
});

test("create refuses like apply; a refused document anywhere writes nothing", async () => {
  await refused(
    [doc("IPPool", "ok", "  cidr: 10.30.0.0/16\n"), doc("IPPool", "bad", "  cidr: 10.31.0.0/16\n  ipipMode: Always\n")].join("---\n"),
    /document 2: invalid IPPool "bad": spec\.ipipMode/,
    create,
  );
});

test("a Tier that still holds policies cannot be deleted; built-in tiers never; deleting the policy and the tier in one file works", async () => {
  assert.equal((await runCli(apply, ["-f", file("base.yaml", BASE)])).code, 0);
  const before = await snapshot(bed.store);
  const r = await runCli(del, ["tier", "security"]);
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /Tier\(security\): invalid Tier "security": metadata\.name: tier security still holds 1 policy \(GlobalNetworkPolicy\(security\.deny-bad\)\); delete or move them first \(nothing was changed\) \[MODEL_INVALID\]/,
  );
  assert.deepEqual(await snapshot(bed.store), before);
  const d = await runCli(del, ["tier", "default"]);
  assert.match(d.stderr, /the default tier is built in and cannot be deleted/);
  const both = [doc("GlobalNetworkPolicy", "security.deny-bad", "  tier: security\n"), doc("Tier", "security", "  order: 100\n")].join("---\n");
  const ok = await runCli(del, ["-f", file("both.yaml", both)]);
  assert.deepEqual(ok, { code: 0, stdout: "Successfully deleted 2 resource(s)\n", stderr: "" });
  // In the order a manifest creates them (tier first) too: delete -f takes tiers last.
  assert.equal((await runCli(apply, ["-f", file("base.yaml", BASE)])).code, 0);
  const reversed = [doc("Tier", "security", "  order: 100\n"), doc("GlobalNetworkPolicy", "security.deny-bad", "  tier: security\n")].join("---\n");
  assert.deepEqual(await runCli(del, ["-f", file("rev.yaml", reversed)]), { code: 0, stdout: "Successfully deleted 2 resource(s)\n", stderr: "" });
  // A file that deletes the tier but not every policy in it still refuses, and deletes nothing.
  assert.equal((await runCli(apply, ["-f", file("base.yaml", BASE)])).code, 0);
  const snap = await snapshot(bed.store);
  const no = await runCli(del, ["-f", file("tier-only.yaml", doc("Tier", "security", "  order: 100\n"))]);
  assert.equal(no.code, 1);
  assert.match(no.stderr, /still holds 1 policy/);
  assert.deepEqual(await snapshot(bed.store), snap);
});

test("binary input on stdin is described by its size, not echoed", async () => {
  const out = new PassThrough();
  const err = new PassThrough();
  let stderr = "";
  err.on("data", (d) => (stderr += d));
  out.resume();
  const bytes = randomBytes(65536);
  bytes[100] = 0; // a NUL byte for certain
  const code = await apply.run(["-f", "-"], { stdout: out, stderr: err, env: {}, stdin: Readable.from([bytes]) } as never);
  assert.equal(code, 1);
  assert.equal(stderr, "tabby apply: <stdin>: 65536 bytes of binary data, not YAML or JSON [MODEL_PARSE]\n");
  assert.deepEqual(await snapshot(bed.store), {});
});

test("YAML errors name the file, the document, the line and the column", async () => {
  const text = `${doc("IPPool", "a", "  cidr: 10.40.0.0/16\n")}---\napiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: b\n spec:\n  cidr: 10.41.0.0/16\n`;
  const r = await runCli(apply, ["-f", file("indent.yaml", text)]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /indent\.yaml: document 2: line 12, column 1: All mapping items must start at the same column \[MODEL_PARSE\]/);
  assert.deepEqual(await snapshot(bed.store), {});
});

test("JSON is checked as JSON: an error names the line and column, not a null field", async () => {
  const text = '{\n  "apiVersion": "projectcalico.org/v3",\n  "kind": "IPPool",\n  "metadata": {"name": "a"},\n  "spec": {"cidr": }\n}\n';
  const r = await runCli(apply, ["-f", file("pool.json", text)]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /pool\.json: document 1: line 5, column 20: invalid JSON: expected a value, found "\}" \[MODEL_PARSE\]/);
  assert.deepEqual(await snapshot(bed.store), {});
});
