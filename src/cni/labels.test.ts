import { test } from "node:test";
import assert from "node:assert/strict";
import { FakeClock } from "../clock.js";
import { MemoryStore } from "../datastore/memory.js";
import { FakeRunner } from "../dataplane/exec.js";
import { FakeIpam } from "../testkit/cni/fake-ipam.js";
import { FakePlumbing } from "../testkit/cni/fake-plumbing.js";
import { dispatchCni, type CniRuntime } from "./plugin-main.js";
import { mapKey, workloadLabels } from "./labels.js";
import { parseNetConf } from "./config.js";

test('label rules: `only` filters the runtime\'s keys, then the longest prefix wins, "" strips, null drops', () => {
  const rules = { map: { "io.podman/": "podman/", "io.podman/secret": null, "org.opencontainers.": null }, only: ["io.podman/", "org.", "app"] };
  assert.equal(mapKey("io.podman/role", rules), "podman/role");
  assert.equal(mapKey("io.podman/secret-x", rules), undefined);
  assert.equal(mapKey("org.opencontainers.image.title", rules), undefined);
  assert.equal(mapKey("app", rules), "app");
  assert.equal(mapKey("tier", rules), undefined);
  assert.equal(mapKey("tier", { map: {} }), "tier");
  // Calico's libnetwork plugin: only org.projectcalico.label.*, prefix stripped.
  const calico = { map: { "org.projectcalico.label.": "" }, only: ["org.projectcalico.label."] };
  assert.equal(mapKey("org.projectcalico.label.role", calico), "role");
  assert.equal(mapKey("role", calico), undefined);
});

test("labels: annotations that are not labels are skipped, a bad label fails, tabby's prefixes are refused", () => {
  const rules = { map: {} };
  assert.deepEqual(
    workloadLabels({ annotations: { role: "web", "kubectl.kubernetes.io/last-applied-configuration": '{"a": 1}' }, labels: { role: "db" } }, rules),
    { role: "db" },
  );
  assert.throws(
    () => workloadLabels({ annotations: {}, labels: { role: "not valid!" } }, rules),
    (e: Error & { code?: string }) => /role/.test(e.message),
  );
  assert.throws(() => workloadLabels({ annotations: {}, labels: { "projectcalico.org/namespace": "kube-system" } }, rules), /tabby's own/);
  assert.throws(() => workloadLabels({ annotations: { "pcns.projectcalico.org/name": "x" }, labels: {} }, rules), /tabby's own/);
  // …unless the config maps it away.
  assert.deepEqual(workloadLabels({ annotations: {}, labels: { "projectcalico.org/namespace": "x" } }, { map: { "projectcalico.org/": "runtime/" } }), {
    "runtime/namespace": "x",
  });
});

test("network config: every label source is read; unknown fields in `labels` are refused", () => {
  const c = parseNetConf(
    JSON.stringify({
      cniVersion: "1.0.0",
      name: "n",
      type: "tabby",
      labels: { map: { "io.containerd/": "ctr/" } },
      args: { cni: { labels: [{ key: "app", value: "web" }] } },
      runtimeConfig: { "io.kubernetes.cri.pod-annotations": { tier: "front" }, labels: { env: "prod" } },
      policy_setup_timeout_seconds: 2.5,
      endpoint_status_dir: "/tmp/x",
    }),
  );
  assert.deepEqual(c.runtimeLabels, { annotations: { tier: "front" }, labels: { env: "prod", app: "web" } });
  assert.deepEqual(c.labelRules, { map: { "io.containerd/": "ctr/" } });
  assert.equal(c.policySetupTimeoutSeconds, 2.5);
  assert.equal(c.endpointStatusDir, "/tmp/x");
  assert.throws(() => parseNetConf(JSON.stringify({ cniVersion: "1.0.0", name: "n", type: "tabby", labels: { drop: ["x"] } })), /does not implement: drop/);
  assert.throws(
    () => parseNetConf(JSON.stringify({ cniVersion: "1.0.0", name: "n", type: "tabby", args: { cni: { labels: [{ key: "a" }] } } })),
    /args.cni.labels/,
  );
  assert.throws(
    () => parseNetConf(JSON.stringify({ cniVersion: "1.0.0", name: "n", type: "tabby", policy_setup_timeout_seconds: -1 })),
    /policy_setup_timeout_seconds/,
  );
});

function setup() {
  const store = new MemoryStore();
  store.close = async () => {};
  const waits: unknown[] = [];
  const plumbing = new FakePlumbing();
  const rt: CniRuntime = {
    plumbing: () => plumbing,
    openStore: async () => store,
    openIpam: async () => new FakeIpam("10.65.0.0/26", undefined),
    runner: new FakeRunner(),
    hostSysctl: { write: async () => {}, read: async () => "" },
    delegateIpam: async () => assert.fail("no delegation expected"),
    clock: new FakeClock(1_767_225_600_000),
    hostname: () => "host-a",
    detectMtu: async () => undefined,
    waitProgrammed: async (w) => {
      // The endpoint is in the store, with its labels, before ADD waits.
      const kv = await store.get(w.id);
      waits.push({ ...w, labels: kv && JSON.parse(kv.value).metadata.labels });
      return true;
    },
  };
  return { store, rt, waits, plumbing };
}

test("ADD: the runtime's labels are on the WorkloadEndpoint before ADD waits for the agent", async () => {
  const { rt, waits } = setup();
  const stdin = JSON.stringify({
    cniVersion: "1.0.0",
    name: "tabby",
    type: "tabby",
    ipam: { type: "tabby-ipam" },
    labels: { map: { "io.podman/": null } },
    args: {
      cni: {
        labels: [
          { key: "role", value: "web" },
          { key: "io.podman/x", value: "1" },
        ],
      },
    },
    runtimeConfig: { "io.kubernetes.cri.pod-annotations": { team: "a", "big/json": "{}" } },
  });
  const out = await dispatchCni(
    "tabby",
    stdin,
    { CNI_COMMAND: "ADD", CNI_CONTAINERID: "c1", CNI_NETNS: "/run/netns/x", CNI_IFNAME: "eth0", CNI_ARGS: "K8S_POD_NAMESPACE=shop;K8S_POD_NAME=cart" },
    rt,
  );
  assert.equal(out.exitCode, 0, out.stdout);
  assert.equal(waits.length, 1);
  const w = waits[0] as { dir: string; timeoutMs: number; addrs: string[]; labels: Record<string, string> };
  assert.equal(w.dir, "/run/tabby/endpoint-status");
  assert.equal(w.timeoutMs, 10_000);
  assert.deepEqual(w.addrs, ["10.65.0.1/32"]);
  assert.deepEqual(w.labels, { role: "web", team: "a", "projectcalico.org/namespace": "shop", "projectcalico.org/orchestrator": "k8s" });
});

test("ADD: a reserved label fails before anything is made; a zero timeout does not wait", async () => {
  const a = setup();
  const bad = JSON.stringify({
    cniVersion: "1.0.0",
    name: "t",
    type: "tabby",
    ipam: { type: "tabby-ipam" },
    args: { cni: { labels: [{ key: "projectcalico.org/namespace", value: "kube-system" }] } },
  });
  const env = { CNI_COMMAND: "ADD", CNI_CONTAINERID: "c1", CNI_NETNS: "/run/netns/x", CNI_IFNAME: "eth0" };
  const out = await dispatchCni("tabby", bad, env, a.rt);
  assert.equal(out.exitCode, 1);
  assert.equal(JSON.parse(out.stdout).code, 7);
  assert.deepEqual(a.plumbing.lines, []);
  const b = setup();
  const noWait = JSON.stringify({ cniVersion: "1.0.0", name: "t", type: "tabby", ipam: { type: "tabby-ipam" }, policy_setup_timeout_seconds: 0 });
  assert.equal((await dispatchCni("tabby", noWait, env, b.rt)).exitCode, 0);
  assert.equal(b.waits.length, 0);
  // Outside Kubernetes the endpoint also lists its CNI network's profile, whose label it inherits.
  const wep = JSON.parse((await b.store.get("/calico/resources/v3/projectcalico.org/workloadendpoints/default/host--a-cni-c1-eth0"))!.value);
  assert.deepEqual(wep.spec.profiles, ["kns.default", "cni.t"]);
  const profile = JSON.parse((await b.store.get("/calico/resources/v3/projectcalico.org/profiles/cni.t"))!.value);
  assert.deepEqual(profile.spec, { labelsToApply: { "cni.network": "t" } });
});

test("label key and value rules agree with the datastore's (model/meta.ts)", async () => {
  const { qualifiedNameProblem, labelValueProblem: modelValue } = await import("../model/meta.js");
  const { labelKeyProblem, labelValueProblem } = await import("./labels.js");
  const keys = [
    "a",
    "role",
    "app.kubernetes.io/name",
    "x/y/z",
    "/a",
    "a/",
    "A/b",
    "ex-ample.com/k_1",
    "-a",
    "a-",
    "a".repeat(63),
    "a".repeat(64),
    `${"a".repeat(254)}/b`,
    "a..b/c",
    "a.b/c.d",
  ];
  for (const k of keys) assert.equal(labelKeyProblem(k) === undefined, qualifiedNameProblem(k) === undefined, k);
  const values = ["", "web", "a b", "-x", "x-", "1.2_3", "a".repeat(63), "a".repeat(64), "{}"];
  for (const v of values) assert.equal(labelValueProblem(v) === undefined, modelValue(v) === undefined, v);
});
