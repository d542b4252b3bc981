/**
 * `labUp`'s plan of commands, golden-tested without root: the lab's effects go through the
 * injected CommandRunner and process supervisor (src/lab/sh.ts), so with FakeRunner and
 * FakeSupervisor `lab up` records every command it would run — namespaces, veths, addresses,
 * routes, sysctls, certificates, CNI ADDs — and every daemon it would start, in order, into
 * src/lab/testdata/up-*.txt (UPDATE_GOLDEN=1 rewrites them). The test plays the daemons' part in
 * the datastore (an agent registers its Node, the CNI plugin writes the WorkloadEndpoint), on a
 * real SQLite file in a private directory.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { FakeRunner, type CommandRunner, type RunOptions } from "../dataplane/exec.js";
import type { DaemonSpec } from "./supervisor.js";
import { openStore } from "../datastore/open.js";
import type { Store } from "../datastore/store.js";
import { ResourceClient } from "../datastore/resource-client.js";
import { API_VERSION } from "../model/index.js";
import type { LabUpOptions } from "./up.js";

const GOLDEN_DIR = fileURLToPath(new URL("../../../src/lab/testdata/", import.meta.url));
const DIST = dirname(dirname(fileURLToPath(import.meta.url))); // dist/src
const root = mkdtempSync(join(tmpdir(), "tabby-labplan-"));
process.env["TABBY_LAB_ROOT"] = root; // read when state.ts loads: import the lab (dynamically) after this
after(() => rmSync(root, { recursive: true, force: true }));

/** Paths that differ between machines and runs, replaced by names. */
function normalize(text: string): string {
  return text
    .split(root)
    .join("<root>")
    .split(process.execPath)
    .join("<node>")
    .split(DIST)
    .join("<dist>")
    .replace(/-set_serial 0x[0-9a-f]+/g, "-set_serial <random>");
}

/** Runs `lab up` with the fakes; returns the recorded plan as text. */
async function recordUp(opts: LabUpOptions): Promise<string> {
  const { labUp } = await import("./up.js");
  const { FakeSupervisor } = await import("./supervisor.js");
  const lines: string[] = [];
  const dbUrl = `sqlite://${join(root, opts.name, "tabby.db")}`;
  let store: Store | undefined;
  let client: ResourceClient | undefined;
  const ds = async () => (client ??= new ResourceClient((store = await openStore(dbUrl))));
  const fake = new FakeRunner();
  let n = 0;
  const runner: CommandRunner = {
    async run(cmd: string, args: string[], o: RunOptions = {}) {
      const input = typeof o.input === "string" ? o.input : o.input ? await o.input : undefined;
      const shown = cmd === "env" ? "(the CNI network configuration)" : input?.trimEnd();
      lines.push(`${o.netns ? `[${o.netns}] ` : ""}${[cmd, ...args].join(" ")}${shown ? `\n${shown.replace(/^/gm, "    | ")}` : ""}`);
      if (cmd === "env" && args.at(-1)?.endsWith("cni-bin/tabby")) return cniAdd(await ds(), args, ++n);
      return fake.run(cmd, args, { ...o, ...(input !== undefined ? { input } : {}) });
    },
  };
  // the test stands in for the agents: each registers its Node when started
  const onStart = async (spec: DaemonSpec) => {
    if (spec.role !== "agent") return;
    await (await ds()).apply({ apiVersion: API_VERSION, kind: "Node", metadata: { name: spec.name }, spec: {} });
  };
  const supervisor = new FakeSupervisor((l) => lines.push(l), onStart);
  const say: string[] = [];
  const state = await labUp({ ...opts, say: (l) => say.push(l) }, { runner, supervisor });
  assert.equal(state.ready, true);
  assert.equal(state.workloads.length, state.plan.workloads.length);
  assert.deepEqual(
    state.workloads.map((w) => w.name),
    state.plan.workloads.map((w) => w.name),
    "workloads recorded in plan order",
  );
  await store?.close();
  return normalize(lines.join("\n") + "\n");
}

/** The CNI plugin's part: a WorkloadEndpoint in the datastore and an ADD result, addresses by order. */
async function cniAdd(client: ResourceClient, args: string[], n: number) {
  const v = (k: string) => args.find((a) => a.startsWith(`${k}=`))!.slice(k.length + 1);
  const containerId = v("CNI_CONTAINERID");
  const pod = /K8S_POD_NAME=([^;]+)/.exec(v("CNI_ARGS"))![1]!;
  const node = pod.split("-")[0]!;
  const ip4 = `10.65.0.${n}`;
  const ip6 = `fd65::${n.toString(16)}`;
  await client.apply({
    apiVersion: API_VERSION,
    kind: "WorkloadEndpoint",
    // named as the plugin names a pod's endpoint (src/cni/identity.ts wepName)
    metadata: { name: `${node}-k8s-${pod.replace(/-/g, "--")}-eth0`, namespace: "lab" },
    spec: {
      orchestrator: "k8s",
      node,
      pod,
      containerID: containerId,
      endpoint: "eth0",
      interfaceName: `tab${n}`,
      ipNetworks: [`${ip4}/32`, `${ip6}/128`],
      profiles: ["kns.lab"],
    },
  });
  const result = {
    cniVersion: "1.0.0",
    interfaces: [{ name: `tab${n}` }, { name: "eth0", sandbox: "/run/netns/x" }],
    ips: [{ address: `${ip4}/32` }, { address: `${ip6}/128` }],
  };
  return { stdout: JSON.stringify(result), stderr: "", code: 0 };
}

function golden(name: string, got: string): void {
  const file = join(GOLDEN_DIR, name);
  if (process.env["UPDATE_GOLDEN"]) {
    mkdirSync(GOLDEN_DIR, { recursive: true });
    writeFileSync(file, got);
  }
  assert.equal(got, readFileSync(file, "utf8"), `${name} differs; UPDATE_GOLDEN=1 rewrites it after a deliberate change`);
}

test("lab up plan, mesh: 3 hosts × 2 workloads", async () => {
  golden("up-mesh.txt", await recordUp({ name: "pm", hosts: 3, workloads: 2 }));
});

test("lab up plan, route reflectors chosen above 20 hosts when no topology is given", async () => {
  const got = await recordUp({ name: "pa", hosts: 21, workloads: 0 });
  assert.match(got, /start reflector rr1: ip netns exec pa-rr1 <node> <dist>\/cli\/main\.js bgp run -c <root>\/pa\/rr1\.yaml/);
  assert.equal(got.match(/^start agent /gm)?.length, 21);
});

test("lab up plan, fabric: 2 racks × 1 host, mixed ToRs (BIRD and FRR), 1 workload each", {
  skip: !existsSync("/usr/lib/frr/bgpd") && "FRR is not installed",
}, async () => {
  golden("up-fabric.txt", await recordUp({ name: "pf", hosts: 1, workloads: 1, topology: "fabric", racks: 2, tor: "mixed", asModel: "rack" }));
});

test("workloads are plugged taking the hosts in turn, each once", async () => {
  const { acrossHosts } = await import("./up.js");
  const w = (host: string, j: number) => ({ name: `${host}-w${j}`, host, netns: `x-${host}-w${j}`, containerId: `c-${host}-w${j}` });
  const plan = [w("h1", 1), w("h1", 2), w("h1", 3), w("h2", 1), w("h3", 1), w("h3", 2)];
  assert.deepEqual(
    acrossHosts(plan).map((x) => x.name),
    ["h1-w1", "h2-w1", "h3-w1", "h1-w2", "h3-w2", "h1-w3"],
  );
  assert.deepEqual(acrossHosts([]), []);
});
