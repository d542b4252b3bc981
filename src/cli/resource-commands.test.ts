/**
 * The apply/create/get/delete commands driven in-process against an injected MemoryStore.
 */
import { test } from "node:test";
import { cliTestBed, runCli } from "../testkit/cli/cli-test-bed.js";
import assert from "node:assert/strict";
import { join } from "node:path";
import { parse } from "yaml";
import { ResourceClient } from "../datastore/resource-client.js";
import { useStoreForTests, openStoreFromArgs } from "./datastore-flag.js";
import { UsageError } from "./command.js";
import * as apply from "./apply.js";
import * as create from "./create.js";
import * as get from "./get.js";
import * as del from "./delete.js";
import type { IPPool } from "../model/index.js";
import { hasCode } from "../errors.js";

const bed = cliTestBed("ttmd-cli-");
const file = bed.file;

const cli = runCli;

const POOLS = `apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: default-ipv4-ippool
spec:
  cidr: 192.168.0.0/16
  natOutgoing: true
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: edge-pool
spec:
  cidr: 10.200.0.0/20
  blockSize: 28
  natOutgoing: true
  nodeSelector: edge == 'true'
`;

const NODES = `apiVersion: projectcalico.org/v3
kind: NodeList
items:
- metadata:
    name: rack1-host1
  spec:
    bgp:
      ipv4Address: 10.0.1.11/24
      ipv6Address: fd00:1::11/64
- metadata:
    name: rack1-host2
  spec:
    bgp:
      ipv4Address: 10.0.1.12/24
      asNumber: 65010
`;

const WEPS = `apiVersion: projectcalico.org/v3
kind: WorkloadEndpoint
metadata:
  namespace: prod
spec:
  node: rack1-host1
  orchestrator: k8s
  pod: frontend-5gs43
  endpoint: eth0
  ipNetworks: [192.168.91.113/32]
  interfaceName: cali0ef24ba
  profiles: [kns.prod]
---
apiVersion: projectcalico.org/v3
kind: WorkloadEndpoint
metadata: {}
spec:
  node: rack1-host2
  orchestrator: k8s
  pod: db-0
  endpoint: eth0
  ipNetworks: [192.168.12.4/32, fd5f:a1b2::4/128]
  interfaceName: cali9a8b7c6
`;

test("apply -f: multi-document files, repeatable -f, then get shows them", async () => {
  const r = await cli(apply, ["-f", file("pools.yaml", POOLS), "-f", file("nodes.yaml", NODES)]);
  assert.deepEqual(r, { code: 0, stdout: "Successfully applied 4 resource(s)\n", stderr: "" });
  const t = await cli(get, ["ippools"]);
  assert.equal(t.code, 0);
  assert.equal(
    t.stdout,
    "NAME                  CIDR             SELECTOR\n" +
      "default-ipv4-ippool   192.168.0.0/16   all()\n" +
      "edge-pool             10.200.0.0/20    edge == 'true'\n",
  );
  const w = await cli(get, ["IPPool", "-o", "wide"]);
  assert.match(w.stdout, /^NAME\s+CIDR\s+NAT\s+IPIPMODE\s+VXLANMODE\s+DISABLED\s+DISABLEBGPEXPORT\s+SELECTOR\n/);
  assert.match(w.stdout, /edge-pool\s+10\.200\.0\.0\/20\s+true\s+Never\s+Never\s+false\s+false\s+edge == 'true'\n/);
});

test("apply is idempotent and updates in place", async () => {
  const f = file("pools.yaml", POOLS);
  assert.equal((await cli(apply, ["-f", f])).code, 0);
  const client = new ResourceClient(bed.store);
  const before = await client.get<IPPool>("IPPool", "edge-pool");
  assert.equal((await cli(apply, ["-f", file("pools2.yaml", POOLS.replace("blockSize: 28\n", "blockSize: 28\n  disabled: true\n"))])).code, 0);
  const after = await client.get<IPPool>("IPPool", "edge-pool");
  assert.equal(after!.spec.disabled, true);
  assert.equal(after!.metadata.uid, before!.metadata.uid);
});

test("apply: a bad document anywhere means nothing is written; the error names file, document and field", async () => {
  const bad = POOLS.replace("blockSize: 28", "blockSize: 40");
  const f = file("bad.yaml", bad);
  const r = await cli(apply, ["-f", file("good.yaml", NODES), "-f", f]);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, "");
  assert.ok(r.stderr.includes(`${f}: document 2: invalid IPPool "edge-pool": spec.blockSize: must be between 20 and 32 for an IPv4 pool, got 40`), r.stderr);
  assert.equal(await bed.store.currentRevision(), 0);
});

test("apply -f - reads stdin; JSON works too", async () => {
  const json = JSON.stringify({
    apiVersion: "projectcalico.org/v3",
    kind: "Profile",
    metadata: { name: "kns.prod" },
    spec: { ingress: [{ action: "Allow" }], egress: [{ action: "Allow" }], labelsToApply: { "pcns.projectcalico.org/name": "prod" } },
  });
  const r = await cli(apply, ["-f", "-"], json);
  assert.equal(r.code, 0, r.stderr);
  const g = await cli(get, ["profiles", "-o", "wide"]);
  assert.equal(g.stdout, "NAME       LABELS\nkns.prod   pcns.projectcalico.org/name=prod\n");
  const bad = await cli(apply, ["-f", "-"], "kind: [");
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /<stdin>: document 1: /);
});

test("apply: usage errors", async () => {
  await assert.rejects(cli(apply, []), UsageError);
  await assert.rejects(cli(apply, ["--bogus"]), UsageError);
  await assert.rejects(cli(apply, ["-f", "x", "extra"]), UsageError);
  const missing = await cli(apply, ["-f", join(bed.dir, "does-not-exist.yaml")]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /cannot read .*does-not-exist\.yaml: ENOENT/);
});

test("create: refuses existing resources and writes none of the batch", async () => {
  assert.deepEqual(await cli(create, ["-f", file("p.yaml", POOLS)]), { code: 0, stdout: "Successfully created 2 resource(s)\n", stderr: "" });
  const rev = await bed.store.currentRevision();
  const r = await cli(create, ["-f", file("n.yaml", NODES), "-f", file("p2.yaml", POOLS)]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /resource already exists: IPPool\(default-ipv4-ippool\)/);
  assert.equal(await bed.store.currentRevision(), rev, "the nodes were not created either");
});

test("namespaced kinds: default namespace, -n, -A, wep columns", async () => {
  assert.equal((await cli(apply, ["-f", file("w.yaml", WEPS), "-n", "dev"])).code, 0);
  const client = new ResourceClient(bed.store);
  assert.equal((await client.list("WorkloadEndpoint", "prod")).items.length, 1);
  assert.equal((await client.list("WorkloadEndpoint", "dev")).items.length, 1, "-n fills in the namespace that was missing");
  assert.equal((await cli(get, ["wep"])).stdout, "WORKLOAD   NODE   NETWORKS   INTERFACE\n", "the default namespace is empty");
  assert.equal(
    (await cli(get, ["workloadendpoints", "-n", "prod"])).stdout,
    "WORKLOAD         NODE          NETWORKS            INTERFACE\n" + "frontend-5gs43   rack1-host1   192.168.91.113/32   cali0ef24ba\n",
  );
  const all = await cli(get, ["WorkloadEndpoint", "-A"]);
  assert.equal(
    all.stdout,
    "NAMESPACE   WORKLOAD         NODE          NETWORKS                           INTERFACE\n" +
      "dev         db-0             rack1-host2   192.168.12.4/32,fd5f:a1b2::4/128   cali9a8b7c6\n" +
      "prod        frontend-5gs43   rack1-host1   192.168.91.113/32                  cali0ef24ba\n",
  );
  const one = await cli(get, ["wep", "rack1--host1-k8s-frontend--5gs43-eth0", "-n", "prod", "-o", "yaml"]);
  const doc = parse(one.stdout);
  assert.equal(doc.kind, "WorkloadEndpoint");
  assert.equal(doc.metadata.namespace, "prod");
  assert.deepEqual(doc.spec.profiles, ["kns.prod"]);
  await assert.rejects(cli(get, ["wep", "-A", "-n", "prod"]), UsageError);
});

test("get: kinds by singular, plural, short name and any case", async () => {
  await cli(apply, ["-f", file("n.yaml", NODES)]);
  for (const k of ["node", "nodes", "Node", "NODES", "no"]) {
    assert.equal((await cli(get, [k])).stdout, "NAME\nrack1-host1\nrack1-host2\n", k);
  }
  for (const k of [
    "ippool",
    "ippools",
    "IPPools",
    "bgpconfig",
    "bgpconfigs",
    "bgpconfiguration",
    "bgppeer",
    "bgppeers",
    "profile",
    "profiles",
    "wep",
    "workloadendpoints",
    "hep",
    "gnp",
    "networkpolicy",
  ]) {
    assert.equal((await cli(get, [k])).code, 0, k);
  }
  await assert.rejects(cli(get, ["routers"]), /unknown resource kind "routers"/);
  await assert.rejects(cli(get, []), UsageError);
  await assert.rejects(cli(get, ["nodes", "-o", "xml"]), UsageError);
});

test("get nodes -o wide shows the AS, inherited from the BGPConfiguration in parentheses", async () => {
  await cli(apply, ["-f", file("n.yaml", NODES)]);
  assert.equal(
    (await cli(get, ["nodes", "-o", "wide"])).stdout,
    "NAME          ASN       IPV4           IPV6\n" + "rack1-host1   (64512)   10.0.1.11/24   fd00:1::11/64\n" + "rack1-host2   65010     10.0.1.12/24\n",
  );
  await cli(apply, ["-f", "-"], "apiVersion: projectcalico.org/v3\nkind: BGPConfiguration\nmetadata: {name: default}\nspec: {asNumber: 63400}\n");
  assert.match((await cli(get, ["nodes", "-o", "wide"])).stdout, /rack1-host1\s+\(63400\)/);
  assert.equal((await cli(get, ["bgpconfig"])).stdout, "NAME      LOGSEVERITY   MESHENABLED   ASNUMBER\n" + "default   Info          true          63400\n");
});

test("get BGP peers table", async () => {
  const peers = `apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: {name: rack1-tor}
spec: {peerIP: 10.0.1.1, asNumber: 64567, nodeSelector: "rack == 'rack1'"}
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: {name: rr-mesh}
spec: {nodeSelector: all(), peerSelector: has(route-reflector)}
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: {name: global-rs}
spec: {peerIP: "[2001:db8::1]:179", asNumber: 65000}
`;
  assert.equal((await cli(apply, ["-f", file("peers.yaml", peers)])).code, 0);
  assert.equal(
    (await cli(get, ["bgppeers"])).stdout,
    "NAME        PEERIP                 NODE              ASN\n" +
      "global-rs   [2001:db8::1]:179      (global)          65000\n" +
      "rack1-tor   10.0.1.1               rack == 'rack1'   64567\n" +
      "rr-mesh     has(route-reflector)   all()\n",
  );
});

test("get -o yaml/json: a List when listing, the object when named; a missing name is exit 1", async () => {
  await cli(apply, ["-f", file("p.yaml", POOLS)]);
  const list = parse((await cli(get, ["ippools", "-o", "yaml"])).stdout);
  assert.equal(list.kind, "IPPoolList");
  assert.equal(list.items.length, 2);
  const one = JSON.parse((await cli(get, ["ippool", "edge-pool", "-o", "json"])).stdout);
  assert.equal(one.kind, "IPPool");
  assert.equal(one.spec.blockSize, 28);
  assert.match(one.metadata.resourceVersion, /^\d+$/);
  const missing = await cli(get, ["ippool", "nope"]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /resource does not exist: IPPool\(nope\)/);
  // What get prints, apply accepts.
  const yaml = (await cli(get, ["ippools", "-o", "yaml"])).stdout;
  assert.equal((await cli(apply, ["-f", "-"], yaml)).code, 0);
});

test("delete KIND NAME, delete -f FILE, --skip-not-exists", async () => {
  const p = file("p.yaml", POOLS);
  await cli(apply, ["-f", p, "-f", file("n.yaml", NODES)]);
  assert.deepEqual(await cli(del, ["node", "rack1-host1"]), { code: 0, stdout: "Successfully deleted 1 resource(s)\n", stderr: "" });
  const again = await cli(del, ["nodes", "rack1-host1"]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /Node\(rack1-host1\): resource does not exist/);
  assert.equal((await cli(del, ["nodes", "rack1-host1", "--skip-not-exists"])).code, 0);
  assert.deepEqual(await cli(del, ["-f", p]), { code: 0, stdout: "Successfully deleted 2 resource(s)\n", stderr: "" });
  assert.equal((await cli(get, ["ippools"])).stdout, "NAME   CIDR   SELECTOR\n");
  await assert.rejects(cli(del, ["node"]), UsageError);
  await assert.rejects(cli(del, ["-f", p, "node", "x"]), UsageError);
  await assert.rejects(cli(del, ["gizmo", "x"]), UsageError);
});

test("openStoreFromArgs: injected store survives close; otherwise memory:// opens and others are DS_UNAVAILABLE", async () => {
  const s = await openStoreFromArgs("sqlite:///nowhere.db", {});
  await s.close();
  assert.equal(s.url, "memory://");
  await new ResourceClient(s).create({ apiVersion: "projectcalico.org/v3", kind: "Node", metadata: { name: "h" }, spec: {} });
  assert.equal(await bed.store.currentRevision(), 1, "the injected bed.store was used");
  useStoreForTests(undefined);
  const m = await openStoreFromArgs("memory://", {});
  assert.equal(m.url, "memory://");
  await m.close();
  const fromEnv = await openStoreFromArgs(undefined, { TABBY_DATASTORE: "memory://" });
  await fromEnv.close();
  await assert.rejects(openStoreFromArgs("etcd://127.0.0.1:1", {}), (e) => hasCode(e, "DS_UNAVAILABLE"));
  const r = await cli(get, ["nodes", "--datastore", "etcd://127.0.0.1:1"]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /\[DS_UNAVAILABLE\]/);
});

test("manifests are validated before the datastore is opened; --help prints usage", async () => {
  useStoreForTests(undefined);
  const r = await cli(apply, ["-f", file("bad2.yaml", POOLS.replace("cidr: 10.200.0.0/20", "cidr: 10.200.0.0/99")), "--datastore", "etcd://127.0.0.1:1"]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /bad2\.yaml: document 2: invalid IPPool "edge-pool": spec\.cidr: must be a CIDR/);
  for (const mod of [apply, create, get, del]) {
    const h = await cli(mod, ["--help"]);
    assert.equal(h.code, 0);
    assert.match(h.stdout, /^usage: tabby /);
  }
});
