import { test } from "node:test";
import assert from "node:assert/strict";
import { parse } from "yaml";
import { parseManifests, toJson, toYaml, validateResource, type ValidationError, type IPPool, type Resource } from "./index.js";
import { hasCode, type TabbyError } from "../errors.js";

/** A small cluster in Calico's schema, as an operator would write it. */
const CLUSTER = `# pools, a node, a peer, the BGP config, a profile and a workload
apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: default-ipv4-ippool
spec:
  cidr: 192.168.0.0/16
  blockSize: 26
  ipipMode: Never
  natOutgoing: true
  nodeSelector: all()
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: default-ipv6-ippool
spec:
  cidr: fd5f:a1b2::/48
---
apiVersion: projectcalico.org/v3
kind: Node
metadata:
  name: rack1-host1
  labels:
    rack: rack1
    route-reflector: "true"
spec:
  bgp:
    ipv4Address: 10.0.1.11/24
    ipv6Address: fd00:1::11/64
    routeReflectorClusterID: 224.0.0.1
  orchRefs:
  - nodeName: rack1-host1
    orchestrator: k8s
---
apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata:
  name: default
spec:
  logSeverityScreen: Info
  nodeToNodeMeshEnabled: false
  asNumber: 63400
  serviceClusterIPs:
  - cidr: 10.96.0.0/12
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata:
  name: rack1-tor
spec:
  peerIP: 10.0.1.1
  asNumber: 64567
  nodeSelector: rack == 'rack1'
---
apiVersion: projectcalico.org/v3
kind: Profile
metadata:
  name: kns.prod
spec:
  ingress:
  - action: Allow
  egress:
  - action: Allow
  labelsToApply:
    pcns.projectcalico.org/name: prod
---
apiVersion: projectcalico.org/v3
kind: WorkloadEndpoint
metadata:
  name: rack1--host1-k8s-frontend--5gs43-eth0
  namespace: prod
  labels:
    app: frontend
    projectcalico.org/namespace: prod
    projectcalico.org/orchestrator: k8s
spec:
  node: rack1-host1
  orchestrator: k8s
  pod: frontend-5gs43
  endpoint: eth0
  containerID: 133724496e6ab8f2bcc88fb0f0c24ec4e62ed1c4f2fd8b6a10c0ac9e9a4d9f2e
  ipNetworks:
  - 192.168.91.113/32
  interfaceName: cali0ef24ba
  mac: ca:fe:1d:52:bb:e9
  profiles:
  - kns.prod
  ports:
  - name: http
    port: 80
    protocol: TCP
`;

test("multi-document YAML: every kind parses, defaults applied, order kept", () => {
  const rs = parseManifests(CLUSTER, "cluster.yaml");
  assert.deepEqual(
    rs.map((r) => `${r.kind}/${r.metadata.name}`),
    [
      "IPPool/default-ipv4-ippool",
      "IPPool/default-ipv6-ippool",
      "Node/rack1-host1",
      "BGPConfiguration/default",
      "BGPPeer/rack1-tor",
      "Profile/kns.prod",
      "WorkloadEndpoint/rack1--host1-k8s-frontend--5gs43-eth0",
    ],
  );
  const v6 = rs[1] as IPPool;
  assert.equal(v6.spec.blockSize, 122);
  assert.equal(v6.spec.nodeSelector, "all()");
  assert.equal((rs[3]!.spec as { listenPort: number }).listenPort, 179);
});

test("empty documents and comments are skipped", () => {
  assert.deepEqual(parseManifests("", "e.yaml"), []);
  assert.deepEqual(parseManifests("---\n# nothing\n---\n", "e.yaml"), []);
  assert.equal(parseManifests(`---\n${CLUSTER}\n---\n`, "c.yaml").length, 7);
});

test("JSON object and JSON array", () => {
  const one = JSON.stringify({ apiVersion: "projectcalico.org/v3", kind: "IPPool", metadata: { name: "p1" }, spec: { cidr: "10.1.0.0/16" } });
  assert.equal(parseManifests(one, "p.json").length, 1);
  const arr = JSON.stringify([JSON.parse(one), { ...JSON.parse(one), metadata: { name: "p2" }, spec: { cidr: "10.2.0.0/16" } }]);
  assert.deepEqual(
    parseManifests(arr, "p.json").map((r) => r.metadata.name),
    ["p1", "p2"],
  );
});

test("kind: List and typed lists (IPPoolList) with items", () => {
  const list = `apiVersion: projectcalico.org/v3
kind: List
items:
- apiVersion: projectcalico.org/v3
  kind: IPPool
  metadata: {name: a}
  spec: {cidr: 10.1.0.0/16}
- apiVersion: projectcalico.org/v3
  kind: Node
  metadata: {name: h1}
  spec: {}
`;
  assert.deepEqual(
    parseManifests(list).map((r) => r.kind),
    ["IPPool", "Node"],
  );
  const typed = `apiVersion: projectcalico.org/v3
kind: IPPoolList
metadata: {resourceVersion: "12"}
items:
- metadata: {name: a}
  spec: {cidr: 10.1.0.0/16}
- metadata: {name: b}
  spec: {cidr: 10.2.0.0/16}
`;
  const rs = parseManifests(typed);
  assert.deepEqual(
    rs.map((r) => `${r.kind}/${r.metadata.name}`),
    ["IPPool/a", "IPPool/b"],
  );
  assert.deepEqual(parseManifests("apiVersion: projectcalico.org/v3\nkind: List\nitems: []\n"), []);
});

test("errors name the source, the 1-based document index and the field path", () => {
  const bad = CLUSTER.replace("blockSize: 26", "blockSize: 40");
  assert.throws(
    () => parseManifests(bad, "cluster.yaml"),
    (e: ValidationError) => {
      assert.equal(e.code, "MODEL_INVALID");
      assert.equal(e.details.source, "cluster.yaml");
      assert.equal(e.details.document, 1);
      assert.deepEqual(e.errors, [{ path: "spec.blockSize", message: "must be between 20 and 32 for an IPv4 pool, got 40" }]);
      assert.equal(
        e.message,
        'cluster.yaml: document 1: invalid IPPool "default-ipv4-ippool": spec.blockSize: must be between 20 and 32 for an IPv4 pool, got 40',
      );
      return true;
    },
  );
  const badWep = CLUSTER.replace("- 192.168.91.113/32", "- 192.168.91.113/32\n  - 192.168.91.0/24");
  assert.throws(
    () => parseManifests(badWep, "cluster.yaml"),
    (e: ValidationError) =>
      e.details.document === 7 && e.errors[0]!.path === "spec.ipNetworks[1]" && /document 7: .*spec\.ipNetworks\[1\]: must be a single address/.test(e.message),
  );
});

test("errors inside lists and arrays carry the item path", () => {
  const list = `apiVersion: projectcalico.org/v3
kind: IPPoolList
items:
- metadata: {name: a}
  spec: {cidr: 10.1.0.0/16}
- metadata: {name: b}
  spec: {cidr: 10.2.0.0/16, vxlanMode: Sometimes}
`;
  assert.throws(
    () => parseManifests(list, "l.yaml"),
    (e: ValidationError) => e.errors[0]!.path === "items[1].spec.vxlanMode" && e.message.includes("l.yaml: document 1:"),
  );
  const arr = JSON.stringify([
    { apiVersion: "projectcalico.org/v3", kind: "Node", metadata: { name: "ok" } },
    { apiVersion: "projectcalico.org/v3", kind: "Node", metadata: { name: "NO" } },
  ]);
  assert.throws(
    () => parseManifests(arr, "a.json"),
    (e: ValidationError) => e.errors[0]!.path === "[1].metadata.name",
  );
});

test("several bad documents: one error listing each with its document", () => {
  const two = CLUSTER.replace("cidr: 192.168.0.0/16", "cidr: 192.168.0.1/16").replace("peerIP: 10.0.1.1", "peerIP: 10.0.1.1:99999");
  assert.throws(
    () => parseManifests(two, "c.yaml"),
    (e: ValidationError) => {
      assert.deepEqual(
        e.errors.map((x) => x.path),
        ["document 1: spec.cidr", "document 5: spec.peerIP"],
      );
      assert.match(e.message, /^c\.yaml: invalid resource: document 1: spec\.cidr: .*; document 5: spec\.peerIP: /);
      return true;
    },
  );
});

test("all-or-nothing: a bad last document means nothing is returned", () => {
  const text = `${CLUSTER}---\napiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: late}\nspec: {cidr: 10.0.0.0/16, bogus: 1}\n`;
  let result: Resource[] | undefined;
  assert.throws(() => {
    result = parseManifests(text, "c.yaml");
  }, /document 8: invalid IPPool "late": spec.bogus: unknown field/);
  assert.equal(result, undefined);
});

test("YAML syntax errors are MODEL_PARSE with source and document", () => {
  const text = `${CLUSTER}---\napiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: x\n`;
  assert.throws(
    () => parseManifests(text, "broken.yaml"),
    (e: TabbyError) => hasCode(e, "MODEL_PARSE") && e.details?.document === 8 && e.message.startsWith("broken.yaml: document 8: "),
  );
  assert.throws(
    () => parseManifests('{"kind": ', "x.json"),
    (e: TabbyError) => hasCode(e, "MODEL_PARSE") && e.message.startsWith("x.json: document 1: "),
  );
});

test("defaultNamespace fills in namespaced kinds only", () => {
  const text = `apiVersion: projectcalico.org/v3
kind: NetworkSet
metadata: {name: ext}
spec: {nets: [198.51.100.0/24]}
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: p}
spec: {cidr: 10.0.0.0/16}
`;
  const [ns, pool] = parseManifests(text, "x", { defaultNamespace: "default" });
  assert.equal(ns!.metadata.namespace, "default");
  assert.equal(pool!.metadata.namespace, undefined);
  assert.throws(() => parseManifests(text, "x"), /metadata.namespace: is required/);
});

test("round trip: YAML → resources → YAML → resources is stable", () => {
  const rs = parseManifests(CLUSTER, "c.yaml");
  const yaml = toYaml(rs);
  const again = parseManifests(yaml, "round.yaml");
  assert.deepEqual(again, rs);
  assert.equal(toYaml(again), yaml);
  const json = toJson(rs);
  assert.deepEqual(parseManifests(json, "round.json"), rs);
});

test("printing: one resource as itself, several as a List, calicoctl's key order", () => {
  const rs = parseManifests(CLUSTER, "c.yaml");
  const one = parse(toYaml(rs[0]!));
  assert.deepEqual(Object.keys(one), ["apiVersion", "kind", "metadata", "spec"]);
  assert.equal(one.kind, "IPPool");
  assert.equal(parse(toYaml([rs[0]!])).kind, "IPPool", "an array of one prints the object");
  assert.equal(parse(toYaml([rs[0]!], { list: true })).kind, "IPPoolList");
  const many = JSON.parse(toJson(rs));
  assert.equal(many.kind, "List");
  assert.equal(many.items.length, 7);
  assert.equal(JSON.parse(toJson(rs.slice(0, 2))).kind, "IPPoolList");
  // Golden output for a single pool.
  assert.equal(
    toYaml(validateResource({ apiVersion: "projectcalico.org/v3", kind: "IPPool", metadata: { name: "p" }, spec: { cidr: "10.0.0.0/16" } })),
    `apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: p
spec:
  cidr: 10.0.0.0/16
  blockSize: 26
  ipipMode: Never
  vxlanMode: Never
  nodeSelector: all()
  allowedUses:
    - Workload
    - Tunnel
  assignmentMode: Automatic
`,
  );
});

test("property: any valid WorkloadEndpoint / IPPool survives YAML and JSON round trips unchanged", async () => {
  const fc = (await import("fast-check")).default;
  const seg = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,8}[a-z0-9])?$/);
  const octet = fc.integer({ min: 0, max: 255 });
  const wepArb = fc.record({
    ns: seg,
    node: seg,
    pod: seg,
    ips: fc.array(fc.tuple(octet, octet), { minLength: 1, maxLength: 3 }),
    labels: fc.dictionary(seg, fc.oneof(seg, fc.constant("")), { maxKeys: 3 }),
    ports: fc.array(fc.record({ name: seg, protocol: fc.constantFrom("TCP", "UDP", "SCTP"), port: fc.integer({ min: 1, max: 65535 }) }), { maxLength: 2 }),
  });
  fc.assert(
    fc.property(wepArb, fc.integer({ min: 8, max: 24 }), fc.boolean(), ({ ns, node, pod, ips, labels, ports }, len, nat) => {
      const wep = {
        apiVersion: "projectcalico.org/v3",
        kind: "WorkloadEndpoint",
        metadata: { namespace: ns, labels },
        spec: { node, orchestrator: "k8s", pod, endpoint: "eth0", ipNetworks: ips.map(([a, b]) => `10.${a}.${b}.1/32`), interfaceName: "cali0", ports },
      };
      const pool = {
        apiVersion: "projectcalico.org/v3",
        kind: "IPPool",
        metadata: { name: `pool-${len}` },
        spec: { cidr: `10.0.0.0/${len}`, natOutgoing: nat },
      };
      const rs = [validateResource(wep), validateResource(pool)];
      assert.deepEqual(parseManifests(toYaml(rs), "p.yaml"), rs);
      assert.deepEqual(parseManifests(toJson(rs), "p.json"), rs);
      assert.deepEqual(parseManifests(toYaml(rs[0]!), "one.yaml"), [rs[0]]);
    }),
    { numRuns: 200 },
  );
});
