import { test } from "node:test";
import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { run, caretLines, parseLabelList } from "./selector.js";
import type { CliIO } from "./command.js";

async function call(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = "";
  let err = "";
  stdout.on("data", (d: Buffer) => (out += d.toString()));
  stderr.on("data", (d: Buffer) => (err += d.toString()));
  const io: CliIO = { stdout, stderr, env: {} };
  const code = await run(argv, io);
  return { code, out, err };
}

test("matches labels: prints true/false, exit 0", async () => {
  assert.deepEqual(await call([`app == "web" && !has(canary)`, "--labels", "app=web,tier=fe"]), { code: 0, out: "true\n", err: "" });
  assert.deepEqual(await call([`app == "web" && !has(canary)`, "--labels", "app=web,canary=1"]), { code: 0, out: "false\n", err: "" });
  assert.deepEqual(await call([`env != "prod"`, "--labels", ""]), { code: 0, out: "true\n", err: "" });
  assert.deepEqual(await call([`has(a) && has(b)`, "--labels", "a=1", "--labels", "b=2"]), { code: 0, out: "true\n", err: "" });
});

test("-o json carries the canonical form and unique ID", async () => {
  const r = await call(["! (has( b)||! has(a ))", "--labels", "a=x", "-o", "json"]);
  assert.equal(r.code, 0);
  assert.deepEqual(JSON.parse(r.out), {
    input: "! (has( b)||! has(a ))",
    selector: "!(has(b) || !has(a))",
    uniqueId: "s:Iss0uCleLYv1GSv_pNm7hAO58kE9jAx1NKyG3Q",
    labels: { a: "x" },
    matches: true,
  });
});

test("without --labels: canonical form and unique ID", async () => {
  assert.deepEqual(await call([""]), { code: 0, out: "all()\ns:5y5I3VdRZfDU01O--xXAPx2yxCQQqMf0M6IWug\n", err: "" });
});

test("parse error: input with a caret under the position, exit 1", async () => {
  const r = await call([`a = "b"`, "--labels", "a=b"]);
  assert.equal(r.code, 1);
  assert.equal(r.out, "");
  assert.equal(r.err, `tabby selector: expected '==' at position 2\n  a = "b"\n    ^\n`);
  const j = await call([`has(a) &&`, "-o", "json"]);
  assert.equal(j.code, 1);
  assert.equal((JSON.parse(j.out) as { error: { position: number } }).error.position, 9);
});

test("caret lines keep tabs so the caret lines up", () => {
  assert.equal(caretLines("a\t= 'b'", 2), "  a\t= 'b'\n   \t^\n");
  assert.equal(caretLines("a\n", 1), "  a?\n   ^\n");
});

test("usage errors", async () => {
  await assert.rejects(call([]), { code: "CLI_USAGE" });
  await assert.rejects(call(["a == 'b'", "c == 'd'"]), { code: "CLI_USAGE" });
  await assert.rejects(call(["a == 'b'", "--labels", "novalue"]), { code: "CLI_USAGE" });
  await assert.rejects(call(["a == 'b'", "-o", "yaml"]), { code: "CLI_USAGE" });
  await assert.rejects(call(["a == 'b'", "--endpoints", "--labels", "a=b"]), { code: "CLI_USAGE" });
  await assert.rejects(call(["a == 'b'", "--bogus"]), { code: "CLI_USAGE" });
});

test("label lists", () => {
  assert.deepEqual({ ...parseLabelList(["a=1,b=x=y", "a=2"]) }, { a: "2", b: "x=y" });
  assert.deepEqual({ ...parseLabelList(["k="]) }, { k: "" });
});

// ---------------- --endpoints ----------------
import { MemoryStore } from "../datastore/memory.js";
import { ResourceClient } from "../datastore/resource-client.js";
import { useStoreForTests } from "./datastore-flag.js";
import type { Resource } from "../model/index.js";

async function endpointStore(): Promise<MemoryStore> {
  const store = new MemoryStore();
  const client = new ResourceClient(store);
  const res = [
    { kind: "Profile", metadata: { name: "kns.prod" }, spec: { labelsToApply: { "pcns.team": "blue", env: "from-ns" } } },
    { kind: "Profile", metadata: { name: "tier-fe" }, spec: { labelsToApply: { tier: "fe", env: "from-profile" } } },
    {
      kind: "WorkloadEndpoint",
      metadata: { namespace: "prod", labels: { app: "web" } },
      spec: { node: "h1", orchestrator: "k8s", pod: "web-1", endpoint: "eth0", ipNetworks: ["10.0.0.1/32"], interfaceName: "tab1", profiles: ["tier-fe"] },
    },
    {
      kind: "WorkloadEndpoint",
      metadata: { namespace: "prod", labels: { app: "db", env: "own" } },
      spec: { node: "h2", orchestrator: "k8s", pod: "db-0", endpoint: "eth0", ipNetworks: ["10.0.0.2/32", "fd00::2/128"], interfaceName: "tab2" },
    },
    {
      kind: "WorkloadEndpoint",
      metadata: { namespace: "dev", labels: { app: "web" } },
      spec: { node: "h2", orchestrator: "k8s", pod: "web-2", endpoint: "eth0", ipNetworks: ["10.0.1.3/32"], interfaceName: "tab3" },
    },
    {
      kind: "HostEndpoint",
      metadata: { name: "h1-eth0", labels: { app: "web", role: "host" } },
      spec: { node: "h1", interfaceName: "eth0", expectedIPs: ["192.168.0.1"] },
    },
  ];
  for (const r of res) await client.create({ apiVersion: "projectcalico.org/v3", ...r } as unknown as Resource);
  return store;
}

async function withStore<T>(store: MemoryStore, f: () => Promise<T>): Promise<T> {
  useStoreForTests(store);
  try {
    return await f();
  } finally {
    useStoreForTests(undefined);
  }
}

test("--endpoints: own labels, listed profiles, then the namespace profile; host endpoints too", async () => {
  const store = await endpointStore();
  await withStore(store, async () => {
    const web = await call([`app == "web"`, "--endpoints", "-o", "json"]);
    assert.equal(web.code, 0, web.err);
    const j = JSON.parse(web.out) as {
      endpoints: { kind: string; namespace: string; name: string; node: string; networks: string[]; labels: Record<string, string> }[];
    };
    assert.deepEqual(
      j.endpoints.map((e) => [e.kind, e.namespace, e.node, e.networks]),
      [
        ["HostEndpoint", "", "h1", ["192.168.0.1/32"]],
        ["WorkloadEndpoint", "dev", "h2", ["10.0.1.3/32"]],
        ["WorkloadEndpoint", "prod", "h1", ["10.0.0.1/32"]],
      ],
    );
    // The listed profile's env wins over the namespace profile's; namespace and orchestrator labels are there.
    assert.deepEqual(j.endpoints[2]!.labels, {
      app: "web",
      env: "from-profile",
      "pcns.team": "blue",
      "projectcalico.org/namespace": "prod",
      "projectcalico.org/orchestrator": "k8s",
      tier: "fe",
    });
    // Own labels win over inherited ones.
    const own = JSON.parse((await call([`env == "own"`, "--endpoints", "-o", "json"])).out) as typeof j;
    assert.deepEqual(
      own.endpoints.map((e) => e.networks),
      [["10.0.0.2/32", "fd00::2/128"]],
    );
    const ns = JSON.parse((await call([`env == "from-ns"`, "--endpoints", "-o", "json"])).out) as typeof j;
    assert.deepEqual(ns.endpoints.length, 0, "db has its own env; web's listed profile sets env first");
    const team = JSON.parse((await call([`pcns.team == "blue" && !has(tier)`, "--endpoints", "-o", "json"])).out) as typeof j;
    assert.deepEqual(
      team.endpoints.map((e) => e.node),
      ["h2"],
    );
    // != is true when the label is absent: dev/web-2 and the host endpoint have no namespace label "prod".
    const notProd = JSON.parse((await call([`projectcalico.org/namespace != "prod"`, "--endpoints", "-o", "json"])).out) as typeof j;
    assert.deepEqual(
      notProd.endpoints.map((e) => e.kind + "/" + e.namespace),
      ["HostEndpoint/", "WorkloadEndpoint/dev"],
    );
  });
});

test("--endpoints: table output", async () => {
  const store = await endpointStore();
  await withStore(store, async () => {
    const r = await call([`app in {"web", "db"} && projectcalico.org/namespace == "prod"`, "--endpoints"]);
    assert.equal(r.code, 0, r.err);
    const lines = r.out.trimEnd().split("\n");
    assert.match(lines[0]!, /^NAMESPACE\s+NAME\s+NODE\s+NETWORKS$/);
    assert.equal(lines.length, 3);
    assert.match(lines[1]!, /^prod\s+h1-k8s-web--1-eth0\s+h1\s+10\.0\.0\.1\/32$/);
    assert.match(lines[2]!, /^prod\s+\S+\s+h2\s+10\.0\.0\.2\/32,fd00::2\/128$/);
    const none = await call([`app == "nope"`, "--endpoints"]);
    assert.equal(none.out, "NAMESPACE  NAME  NODE  NETWORKS\n");
  });
});
