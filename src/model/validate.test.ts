import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  validateResource,
  validateUpdate,
  ValidationError,
  workloadEndpointName,
  type FieldError,
  type IPPool,
  type BGPConfiguration,
  type WorkloadEndpoint,
} from "./index.js";

const V3 = "projectcalico.org/v3";

function errorsOf(input: unknown): FieldError[] {
  try {
    validateResource(input);
  } catch (err) {
    assert.ok(err instanceof ValidationError, `expected ValidationError, got ${String(err)}`);
    assert.equal(err.code, "MODEL_INVALID");
    assert.deepEqual(err.details.errors, err.errors);
    return err.errors;
  }
  return [];
}

/** Asserts that `input` is rejected with an error at `path` whose message matches `re`, and the message names it. */
function rejects(input: unknown, path: string, re: RegExp): void {
  let thrown: ValidationError | undefined;
  try {
    validateResource(input);
  } catch (err) {
    thrown = err as ValidationError;
  }
  assert.ok(thrown, `expected ${path} to be rejected`);
  const hit = thrown.errors.find((e) => e.path === path);
  assert.ok(hit, `no error at ${path}; got ${JSON.stringify(thrown.errors)}`);
  assert.match(hit.message, re);
  assert.ok(thrown.message.includes(`${path}: ${hit.message}`), thrown.message);
}

const pool = (spec: Record<string, unknown>, name = "pool-a") => ({ apiVersion: V3, kind: "IPPool", metadata: { name }, spec });
const wep = (spec: Record<string, unknown>, metadata: Record<string, unknown> = { name: "host1-k8s-web-eth0", namespace: "prod" }) => ({
  apiVersion: V3,
  kind: "WorkloadEndpoint",
  metadata,
  spec: { node: "host1", orchestrator: "k8s", pod: "web", endpoint: "eth0", ...spec },
});
const peer = (spec: Record<string, unknown>) => ({ apiVersion: V3, kind: "BGPPeer", metadata: { name: "tor-a" }, spec });
const node = (spec: Record<string, unknown>) => ({ apiVersion: V3, kind: "Node", metadata: { name: "host1" }, spec });
const bgpconf = (spec: Record<string, unknown>, name = "default") => ({ apiVersion: V3, kind: "BGPConfiguration", metadata: { name }, spec });
const profile = (spec: Record<string, unknown>) => ({ apiVersion: V3, kind: "Profile", metadata: { name: "kns.prod" }, spec });

// ---------- envelope ----------

test("apiVersion, kind and top-level fields are checked", () => {
  rejects({ ...pool({ cidr: "10.0.0.0/16" }), apiVersion: "v1" }, "apiVersion", /must be projectcalico.org\/v3, got "v1"/);
  rejects({ kind: "IPPool", metadata: { name: "a" }, spec: { cidr: "10.0.0.0/16" } }, "apiVersion", /is required/);
  rejects({ apiVersion: V3, kind: "Router", metadata: { name: "a" } }, "kind", /unknown kind "Router"/);
  rejects({ apiVersion: V3, metadata: { name: "a" } }, "kind", /is required/);
  rejects({ ...pool({ cidr: "10.0.0.0/16" }), extra: 1 }, "extra", /unknown field/);
  assert.deepEqual(errorsOf("just a string"), [{ path: "", message: 'a resource must be an object, got "just a string"' }]);
});

test("the input is not modified and the result is a new object", () => {
  const input = pool({ cidr: "10.0.0.0/16" });
  const frozen = structuredClone(input);
  const out = validateResource(input);
  assert.deepEqual(input, frozen);
  assert.notEqual(out, input);
  assert.notEqual(out.spec, input.spec);
});

// ---------- metadata ----------

test("names follow DNS-1123 subdomain rules", () => {
  for (const good of ["a", "pool-1", "a.b.c", "x".repeat(253), "kns.default", "a--b"]) {
    assert.deepEqual(errorsOf(pool({ cidr: "10.0.0.0/16" }, good)), [], good);
  }
  for (const bad of ["Pool", "-a", "a-", "a_b", "a..b", ".a", "a b"]) {
    rejects(pool({ cidr: "10.0.0.0/16" }, bad), "metadata.name", /lower case alphanumeric/);
  }
  rejects(pool({ cidr: "10.0.0.0/16" }, "x".repeat(254)), "metadata.name", /at most 253 characters, got 254/);
  rejects({ apiVersion: V3, kind: "IPPool", metadata: {}, spec: { cidr: "10.0.0.0/16" } }, "metadata.name", /is required/);
  rejects({ apiVersion: V3, kind: "IPPool", metadata: { name: 5 }, spec: { cidr: "10.0.0.0/16" } }, "metadata.name", /must be a string/);
});

test("namespace is required for namespaced kinds and forbidden for cluster-scoped ones", () => {
  rejects(wep({ ipNetworks: ["10.0.0.1/32"] }, { name: "host1-k8s-web-eth0" }), "metadata.namespace", /is required/);
  rejects({ ...pool({ cidr: "10.0.0.0/16" }), metadata: { name: "p", namespace: "default" } }, "metadata.namespace", /must not be set/);
  rejects(wep({}, { name: "host1-k8s-web-eth0", namespace: "Prod" }), "metadata.namespace", /DNS-1123 label/);
  rejects({ apiVersion: V3, kind: "NetworkPolicy", metadata: { name: "allow-web" }, spec: {} }, "metadata.namespace", /is required/);
});

test("labels and annotations are validated as Kubernetes does", () => {
  const withMeta = (m: Record<string, unknown>) => ({ ...pool({ cidr: "10.0.0.0/16" }), metadata: { name: "p", ...m } });
  assert.deepEqual(errorsOf(withMeta({ labels: { app: "web", "example.com/tier": "front_end-1.0", empty: "" } })), []);
  rejects(withMeta({ labels: { "bad key!": "x" } }), 'metadata.labels["bad key!"]', /key name/);
  rejects(withMeta({ labels: { "Example.com/x": "x" } }), 'metadata.labels["Example.com/x"]', /key prefix/);
  rejects(withMeta({ labels: { ["k".repeat(64)]: "x" } }), `metadata.labels["${"k".repeat(64)}"]`, /at most 63/);
  rejects(withMeta({ labels: { app: "-web" } }), 'metadata.labels["app"]', /alphanumeric/);
  rejects(withMeta({ labels: { app: "v".repeat(64) } }), 'metadata.labels["app"]', /at most 63 characters, got 64/);
  rejects(withMeta({ labels: { app: 3 } }), 'metadata.labels["app"]', /must be a string/);
  assert.deepEqual(errorsOf(withMeta({ annotations: { "example.com/note": "any text: at all ✓" } })), []);
  rejects(withMeta({ annotations: { "/x": "y" } }), 'metadata.annotations["/x"]', /prefix must not be empty/);
  rejects(withMeta({ annotations: { big: "x".repeat(256 * 1024) } }), "metadata.annotations", /at most 262144 bytes/);
  rejects(withMeta({ owner: "me" }), "metadata.owner", /unknown field/);
});

// ---------- IPPool ----------

test("IPPool defaults: v4 and v6", () => {
  const v4 = validateResource<IPPool>(pool({ cidr: "10.20.0.0/16" }));
  assert.deepEqual(v4.spec, {
    cidr: "10.20.0.0/16",
    blockSize: 26,
    ipipMode: "Never",
    vxlanMode: "Never",
    nodeSelector: "all()",
    allowedUses: ["Workload", "Tunnel"],
    assignmentMode: "Automatic",
  });
  const v6 = validateResource<IPPool>(pool({ cidr: "fd00:10::/48", natOutgoing: false }));
  assert.equal(v6.spec.blockSize, 122);
  assert.equal(v6.spec.natOutgoing, false);
  const explicit = validateResource<IPPool>(
    pool({ cidr: "10.0.0.0/8", blockSize: 24, ipipMode: "Never", nodeSelector: "rack == 'a'", allowedUses: ["Tunnel"], assignmentMode: "Automatic" }),
  );
  assert.equal(explicit.spec.blockSize, 24);
  assert.equal(explicit.spec.ipipMode, "Never");
  assert.deepEqual(explicit.spec.allowedUses, ["Tunnel"]);
  assert.equal(explicit.spec.assignmentMode, "Automatic");
  // Stored by another writer, a tunnel mode is kept for the reader to judge (Checker "stored").
  assert.equal(validateResource<IPPool>(pool({ cidr: "10.0.0.0/8", ipipMode: "CrossSubnet" }), {}, { stored: true }).spec.ipipMode, "CrossSubnet");
});

test("IPPool blockSize range per family", () => {
  rejects(pool({ cidr: "10.0.0.0/16", blockSize: 40 }), "spec.blockSize", /^must be between 20 and 32 for an IPv4 pool, got 40$/);
  rejects(pool({ cidr: "10.0.0.0/16", blockSize: 19 }), "spec.blockSize", /between 20 and 32/);
  rejects(pool({ cidr: "fd00::/48", blockSize: 115 }), "spec.blockSize", /^must be between 116 and 128 for an IPv6 pool, got 115$/);
  rejects(pool({ cidr: "fd00::/48", blockSize: 26 }), "spec.blockSize", /116 and 128/);
  rejects(pool({ cidr: "10.0.0.0/16", blockSize: "26" }), "spec.blockSize", /must be an integer/);
  for (const b of [20, 26, 32]) assert.deepEqual(errorsOf(pool({ cidr: "10.0.0.0/16", blockSize: b })), []);
  for (const b of [116, 122, 128]) assert.deepEqual(errorsOf(pool({ cidr: "fd00::/48", blockSize: b })), []);
});

test("IPPool cidr rules", () => {
  rejects(pool({}), "spec.cidr", /is required/);
  rejects(pool({ cidr: "10.0.0.0/33" }), "spec.cidr", /must be a CIDR/);
  rejects(pool({ cidr: "banana" }), "spec.cidr", /must be a CIDR/);
  rejects(pool({ cidr: "10.0.0.1/16" }), "spec.cidr", /no host bits set \(did you mean 10.0.0.0\/16\?\)/);
  rejects(pool({ cidr: "169.254.0.0/16" }), "spec.cidr", /link-local/);
  rejects(pool({ cidr: "fe80::/64" }), "spec.cidr", /link-local/);
  rejects(pool({ cidr: "10.0.0.0/28" }), "spec.cidr", /smaller than one block/);
  assert.deepEqual(errorsOf(pool({ cidr: "10.0.0.0/28", disabled: true })), [], "a disabled pool may be smaller than a block");
  assert.deepEqual(errorsOf(pool({ cidr: "10.0.0.0/28", blockSize: 28 })), []);
});

test("IPPool encapsulation and uses", () => {
  rejects(pool({ cidr: "10.0.0.0/16", ipipMode: "Sometimes" }), "spec.ipipMode", /one of Never, Always, CrossSubnet, got "Sometimes"/);
  rejects(pool({ cidr: "10.0.0.0/16", vxlanMode: "always" }), "spec.vxlanMode", /one of Never, Always, CrossSubnet/);
  rejects(pool({ cidr: "fd00::/48", ipipMode: "Always" }), "spec.ipipMode", /IPv6/);
  rejects(pool({ cidr: "10.0.0.0/16", ipipMode: "Always", vxlanMode: "CrossSubnet" }), "spec.vxlanMode", /together with ipipMode/);
  rejects(pool({ cidr: "fd00::/48", vxlanMode: "Always" }), "spec.vxlanMode", /tabby is pure layer 3 and builds no tunnels; use Never/);
  rejects(
    pool({ cidr: "10.0.0.0/16", ipipMode: "CrossSubnet" }),
    "spec.ipipMode",
    /^CrossSubnet is not supported: tabby is pure layer 3 and builds no tunnels; use Never$/,
  );
  rejects(pool({ cidr: "10.0.0.0/16", assignmentMode: "Manual" }), "spec.assignmentMode", /Manual is not supported/);
  rejects(pool({ cidr: "10.0.0.0/16", allowedUses: ["Workload", "Printing"] }), "spec.allowedUses[1]", /one of Workload, Tunnel, LoadBalancer/);
  rejects(pool({ cidr: "10.0.0.0/16", allowedUses: ["LoadBalancer", "Workload"] }), "spec.allowedUses[1]", /LoadBalancer cannot be combined with Workload/);
  rejects(pool({ cidr: "10.0.0.0/16", allowedUses: ["LoadBalancer"], ipipMode: "Always" }), "spec.allowedUses", /IPIP or VXLAN/);
  rejects(pool({ cidr: "10.0.0.0/16", allowedUses: ["LoadBalancer"], nodeSelector: "rack == 'a'" }), "spec.nodeSelector", /all\(\)/);
  rejects(pool({ cidr: "10.0.0.0/16", assignmentMode: "Sometimes" }), "spec.assignmentMode", /Automatic, Manual/);
  rejects(pool({ cidr: "10.0.0.0/16", natOutgoing: "yes" }), "spec.natOutgoing", /true or false/);
  rejects(pool({ cidr: "10.0.0.0/16", nodeSelector: "has(a" }), "spec.nodeSelector", /selector/);
  rejects(pool({ cidr: "10.0.0.0/16", ipip: { enabled: true } }), "spec.ipip", /unknown field/);
});

test("every error is reported, not just the first", () => {
  const errs = errorsOf(pool({ cidr: "10.0.0.1/16", blockSize: 40, ipipMode: "x", colour: "red" }, "Bad_Name"));
  assert.deepEqual(errs.map((e) => e.path).sort(), ["metadata.name", "spec.blockSize", "spec.cidr", "spec.colour", "spec.ipipMode"]);
});

test("IPPool cidr and blockSize cannot change on update", () => {
  const a = validateResource(pool({ cidr: "10.0.0.0/16" }));
  assert.doesNotThrow(() => validateUpdate(a, validateResource(pool({ cidr: "10.0.0.0/16", natOutgoing: true }))));
  assert.throws(
    () => validateUpdate(a, validateResource(pool({ cidr: "10.1.0.0/16" }))),
    (e: ValidationError) => e.errors[0]!.path === "spec.cidr",
  );
  assert.throws(
    () => validateUpdate(a, validateResource(pool({ cidr: "10.0.0.0/16", blockSize: 28 }))),
    (e: ValidationError) => e.errors[0]!.path === "spec.blockSize",
  );
});

// ---------- Node ----------

test("Node BGP fields", () => {
  const n = validateResource(
    node({
      bgp: { ipv4Address: "10.0.0.11/24", ipv6Address: "fd00::11/64", asNumber: 64513, routeReflectorClusterID: "224.0.0.1" },
      orchRefs: [{ orchestrator: "k8s", nodeName: "host1" }],
      addresses: [{ address: "10.0.0.11", type: "InternalIP" }],
    }),
  );
  assert.deepEqual((n.spec as { bgp: unknown }).bgp, {
    asNumber: 64513,
    ipv4Address: "10.0.0.11/24",
    ipv6Address: "fd00::11/64",
    routeReflectorClusterID: "224.0.0.1",
  });
  assert.equal((validateResource(node({ bgp: { asNumber: "1.10" } })).spec as { bgp: { asNumber: number } }).bgp.asNumber, 65546, "asdot is normalised");
  rejects(node({ bgp: { ipv4Address: "fd00::1/64" } }), "spec.bgp.ipv4Address", /IPv4/);
  rejects(node({ bgp: { ipv4Address: "10.0.0.300/24" } }), "spec.bgp.ipv4Address", /IP address or CIDR/);
  rejects(node({ bgp: { ipv6Address: "10.0.0.1/24" } }), "spec.bgp.ipv6Address", /IPv6/);
  rejects(node({ bgp: { asNumber: 4294967296 } }), "spec.bgp.asNumber", /AS number/);
  rejects(node({ bgp: { asNumber: -1 } }), "spec.bgp.asNumber", /AS number/);
  rejects(node({ bgp: { routeReflectorClusterID: "rr1" } }), "spec.bgp.routeReflectorClusterID", /IPv4 address/);
  rejects(node({ bgp: {} }), "spec.bgp", /must not be empty/);
  rejects(node({ bgp: { ipv4Adress: "10.0.0.1/24" } }), "spec.bgp.ipv4Adress", /unknown field/);
  rejects(node({ orchRefs: [{ nodeName: "x" }] }), "spec.orchRefs[0].orchestrator", /is required/);
  rejects(node({ addresses: [{ address: "10.0.0.1", type: "Public" }] }), "spec.addresses[0].type", /CalicoNodeIP, InternalIP, ExternalIP/);
  rejects(node({ vxlanTunnelMACAddr: "ee:ee:ee" }), "spec.vxlanTunnelMACAddr", /MAC/);
});

// ---------- WorkloadEndpoint ----------

test("WorkloadEndpoint networks are single addresses", () => {
  const ok = wep({
    ipNetworks: ["10.65.0.2/32", "fd00::2/128", "10.65.0.3"],
    interfaceName: "cali1234567890a",
    mac: "ee:ee:ee:ee:ee:ee",
    profiles: ["kns.prod", "ksa.prod.default"],
  });
  assert.deepEqual(errorsOf(ok), []);
  rejects(wep({ ipNetworks: ["10.65.0.2/32", "10.65.0.0/26"] }), "spec.ipNetworks[1]", /single address \(\/32\), got 10.65.0.0\/26/);
  rejects(wep({ ipNetworks: ["fd00::/64"] }), "spec.ipNetworks[0]", /\/128/);
  rejects(wep({ ipNetworks: ["not-an-ip"] }), "spec.ipNetworks[0]", /IP address or CIDR/);
  rejects(wep({ ipNetworks: "10.0.0.1/32" }), "spec.ipNetworks", /must be a list/);
});

test("WorkloadEndpoint gateways, NATs, interface, MAC, ports, spoofing", () => {
  rejects(wep({ ipv4Gateway: "fd00::1" }), "spec.ipv4Gateway", /IPv4 address/);
  rejects(wep({ ipv6Gateway: "169.254.1.1" }), "spec.ipv6Gateway", /IPv6 address/);
  assert.deepEqual(errorsOf(wep({ ipv4Gateway: "169.254.1.1", ipv6Gateway: "fe80::1" })), []);
  // A well-formed NAT is still refused: tabby has no floating IPs (never accepted and ignored)
  rejects(
    wep({ ipNetworks: ["10.65.0.2/32"], ipNATs: [{ internalIP: "10.65.0.2", externalIP: "172.16.0.9" }] }),
    "spec.ipNATs",
    /floating IPs \(1:1 NAT\) are not implemented/,
  );
  rejects(wep({ qosControls: { ingressBandwidth: 1000000 } }), "spec.qosControls", /not implemented/);
  rejects(
    wep({ ipNetworks: ["10.65.0.2/32"], ipNATs: [{ internalIP: "10.65.0.7", externalIP: "172.16.0.9" }] }),
    "spec.ipNATs[0].internalIP",
    /not one of the endpoint's ipNetworks/,
  );
  rejects(wep({ ipNetworks: ["10.65.0.2/32"], ipNATs: [{ internalIP: "10.65.0.2", externalIP: "fd00::9" }] }), "spec.ipNATs[0]", /same IP version/);
  rejects(wep({ interfaceName: "cali1234567890abc" }), "spec.interfaceName", /at most 15/);
  rejects(wep({ interfaceName: "cali/0" }), "spec.interfaceName", /interface name/);
  rejects(wep({ mac: "zz:ee:ee:ee:ee:ee" }), "spec.mac", /MAC/);
  assert.deepEqual(
    errorsOf(
      wep({
        ports: [
          { name: "http", protocol: "TCP", port: 8080 },
          { protocol: "UDP", port: 53, hostPort: 5353 },
        ],
      }),
    ),
    [],
  );
  rejects(wep({ ports: [{ name: "http", protocol: "TCP", port: 0 }] }), "spec.ports[0].port", /between 1 and 65535, got 0/);
  rejects(wep({ ports: [{ name: "ping", protocol: "ICMP", port: 1 }] }), "spec.ports[0].protocol", /TCP, UDP or SCTP/);
  rejects(wep({ ports: [{ protocol: "TCP", port: 80 }] }), "spec.ports[0].name", /required when no hostPort/);
  rejects(wep({ ports: [{ name: "http", port: 80 }] }), "spec.ports[0].protocol", /is required/);
  rejects(wep({ allowSpoofedSourcePrefixes: ["10.0.0.0/8", "x"] }), "spec.allowSpoofedSourcePrefixes[1]", /CIDR/);
  rejects(wep({ containerID: "abc_def" }), "spec.containerID", /container ID/);
  rejects(wep({ profiles: ["Bad Profile"] }), "spec.profiles[0]", /profile name/);
  rejects(wep({ hostname: "x" }), "spec.hostname", /unknown field/);
});

test("WorkloadEndpoint names: Calico's format with doubled dashes, derived when missing", () => {
  assert.equal(workloadEndpointName({ node: "rack1-host1", orchestrator: "k8s", pod: "web-7d9f", endpoint: "eth0" }), "rack1--host1-k8s-web--7d9f-eth0");
  assert.equal(workloadEndpointName({ node: "h", orchestrator: "openstack", workload: "vm-1", endpoint: "tap0" }), "h-openstack-vm--1-tap0");
  assert.equal(workloadEndpointName({ node: "h", orchestrator: "k8s", endpoint: "eth0" }), undefined);
  assert.equal(workloadEndpointName({ node: "h", orchestrator: "cni", containerID: "abc-123", endpoint: "eth0" }), "h-cni-abc--123-eth0");
  assert.equal(workloadEndpointName({ node: "h", orchestrator: "libnetwork", endpoint: "ep-1" }), "h-libnetwork-libnetwork-ep--1");
  assert.equal(workloadEndpointName({ node: "h", orchestrator: "vm", workload: "-x", endpoint: "eth0" }), undefined);
  const derived = validateResource<WorkloadEndpoint>(wep({ node: "rack1-host1", pod: "web-7d9f" }, { namespace: "prod" }));
  assert.equal(derived.metadata.name, "rack1--host1-k8s-web--7d9f-eth0");
  assert.deepEqual(Object.keys(derived.metadata), ["name", "namespace", "labels"]);
  assert.deepEqual(derived.metadata.labels, { "projectcalico.org/namespace": "prod", "projectcalico.org/orchestrator": "k8s" });
  const forged = validateResource<WorkloadEndpoint>(
    wep({}, { name: "host1-k8s-web-eth0", namespace: "prod", labels: { app: "web", "projectcalico.org/namespace": "kube-system" } }),
  );
  assert.deepEqual(forged.metadata.labels, { app: "web", "projectcalico.org/namespace": "prod", "projectcalico.org/orchestrator": "k8s" });
  rejects(wep({}, { name: "host1-k8s-other-eth0", namespace: "prod" }), "metadata.name", /expected host1-k8s-web-eth0/);
  assert.deepEqual(errorsOf(wep({ node: undefined }, { name: "free-form--name", namespace: "prod" })), [], "no check when identifiers are incomplete");
});

// ---------- Profile / rules ----------

test("Profile rules and labelsToApply", () => {
  const good = profile({
    ingress: [
      { action: "Allow", protocol: "TCP", source: { selector: "role == 'lb'", nets: ["10.0.0.0/8"] }, destination: { ports: [80, "8000:8080", "http"] } },
    ],
    egress: [{ action: "Allow" }, { action: "Deny", protocol: "ICMP", icmp: { type: 8, code: 0 } }],
    labelsToApply: { "pcns.projectcalico.org/name": "prod" },
  });
  assert.deepEqual(errorsOf(good), []);
  rejects(profile({ ingress: [{ action: "Accept" }] }), "spec.ingress[0].action", /Allow, Deny, Log, Pass/);
  rejects(profile({ ingress: [{ protocol: "TCP" }] }), "spec.ingress[0].action", /is required/);
  rejects(profile({ ingress: [{ action: "Allow", destination: { ports: [80] } }] }), "spec.ingress[0].destination.ports", /protocol to TCP, UDP or SCTP/);
  rejects(
    profile({ egress: [{ action: "Allow", protocol: "TCP", destination: { ports: [70000] } }] }),
    "spec.egress[0].destination.ports[0]",
    /between 1 and 65535/,
  );
  rejects(profile({ egress: [{ action: "Allow", protocol: "TCP", destination: { ports: ["90:80"] } }] }), "spec.egress[0].destination.ports[0]", /min <= max/);
  rejects(profile({ egress: [{ action: "Allow", protocol: "tcpish" }] }), "spec.egress[0].protocol", /TCP, UDP/);
  rejects(profile({ egress: [{ action: "Allow", icmp: { type: 8 } }] }), "spec.egress[0].icmp", /ICMP or ICMPv6/);
  rejects(profile({ egress: [{ action: "Allow", protocol: "ICMP", icmp: { code: 1 } }] }), "spec.egress[0].icmp.code", /without an ICMP type/);
  rejects(profile({ egress: [{ action: "Allow", ipVersion: 6, protocol: "ICMP" }] }), "spec.egress[0].ipVersion", /must be 4/);
  rejects(
    profile({ egress: [{ action: "Allow", source: { nets: ["10.0.0.0/8"] }, destination: { nets: ["fd00::/8"] } }] }),
    "spec.egress[0]",
    /both IPv4 and IPv6/,
  );
  rejects(profile({ egress: [{ action: "Allow", ipVersion: 6, source: { nets: ["10.0.0.0/8"] } }] }), "spec.egress[0].source.nets[0]", /ipVersion is 6/);
  rejects(profile({ egress: [{ action: "Allow", source: { nett: [] } }] }), "spec.egress[0].source.nett", /unknown field/);
  rejects(profile({ labelsToApply: { "bad key": "x" } }), 'spec.labelsToApply["bad key"]', /key name/);
});

// ---------- BGPConfiguration ----------

test("BGPConfiguration default gets Calico's defaults; node-specific ones do not", () => {
  const d = validateResource<BGPConfiguration>(bgpconf({}));
  assert.deepEqual(d.spec, { asNumber: 64512, nodeToNodeMeshEnabled: true, logSeverityScreen: "Info", listenPort: 179 });
  const kept = validateResource<BGPConfiguration>(bgpconf({ asNumber: 65000, nodeToNodeMeshEnabled: false }));
  assert.equal(kept.spec.asNumber, 65000);
  assert.equal(kept.spec.nodeToNodeMeshEnabled, false);
  const perNode = validateResource<BGPConfiguration>(bgpconf({ listenPort: 1179 }, "node.host1"));
  assert.deepEqual(perNode.spec, { listenPort: 1179 });
  rejects(bgpconf({ nodeToNodeMeshEnabled: false }, "node.host1"), "spec.nodeToNodeMeshEnabled", /cluster-wide/);
  rejects(bgpconf({ asNumber: 65001 }, "node.host1"), "spec.asNumber", /cluster-wide/);
  rejects(
    bgpconf({ serviceClusterIPs: [{ cidr: "10.96.0.0/12" }] }, "rack1"),
    "spec.serviceClusterIPs",
    /cluster-wide BGPConfiguration "default", not in "rack1"/,
  );
  rejects(bgpconf({ serviceExternalIPs: [{ cidr: "203.0.113.0/24" }] }, "node.host1"), "spec.serviceExternalIPs", /cluster-wide/);
  rejects(bgpconf({ nodeMeshPassword: { secretKeyRef: { name: "bgp", key: "mesh" } } }, "node.host1"), "spec.nodeMeshPassword", /cluster-wide/);
  rejects(bgpconf({ nodeMeshMaxRestartTime: "60s" }, "node.host1"), "spec.nodeMeshMaxRestartTime", /cluster-wide/);
  assert.deepEqual(errorsOf(bgpconf({ serviceLoadBalancerIPs: [{ cidr: "203.0.113.0/24" }], serviceClusterIPs: [] }, "node.host1")), []);
});

test("BGPConfiguration fields", () => {
  const good = bgpconf({
    serviceClusterIPs: [{ cidr: "10.96.0.0/12" }],
    serviceExternalIPs: [{ cidr: "104.244.42.0/24" }],
    communities: [
      { name: "bgp-large", value: "64512:300:400" },
      { name: "std", value: "65001:100" },
    ],
    prefixAdvertisements: [{ cidr: "192.168.0.0/16", communities: ["bgp-large", "65000:1"] }],
    bindMode: "NodeIP",
    nodeMeshMaxRestartTime: "120s",
    nodeMeshPassword: { secretKeyRef: { name: "bgp-secrets", key: "mesh" } },
    ignoredInterfaces: ["iface-*"],
  });
  assert.deepEqual(errorsOf(good), []);
  rejects(bgpconf({ logSeverityScreen: "Verbose" }), "spec.logSeverityScreen", /Trace, Debug, Info/);
  rejects(bgpconf({ listenPort: 70000 }), "spec.listenPort", /between 1 and 65535/);
  rejects(bgpconf({ serviceClusterIPs: [{ cidr: "10.96.0.0/40" }] }), "spec.serviceClusterIPs[0].cidr", /CIDR/);
  rejects(bgpconf({ communities: [{ name: "c", value: "70000:1" }] }), "spec.communities[0].value", /at most 65535/);
  rejects(bgpconf({ communities: [{ name: "c", value: "abc" }] }), "spec.communities[0].value", /aa:nn or a:b:c/);
  rejects(
    bgpconf({ prefixAdvertisements: [{ cidr: "10.0.0.0/8", communities: ["nope"] }] }),
    "spec.prefixAdvertisements[0].communities[0]",
    /name of one in spec.communities/,
  );
  rejects(bgpconf({ bindMode: "Any" }), "spec.bindMode", /None, NodeIP/);
  rejects(bgpconf({ nodeMeshMaxRestartTime: "2 minutes" }), "spec.nodeMeshMaxRestartTime", /duration/);
  rejects(bgpconf({ nodeMeshPassword: { secretKeyRef: { name: "s", key: "k", extra: 1 } } }), "spec.nodeMeshPassword.secretKeyRef.extra", /unknown field/);
});

// ---------- BGPPeer ----------

test("BGPPeer peerIP forms and exclusive fields", () => {
  for (const ip of ["192.0.2.1", "192.0.2.1:1179", "2001:db8::1", "[2001:db8::1]:179"]) {
    assert.deepEqual(errorsOf(peer({ peerIP: ip, asNumber: 65001 })), [], ip);
  }
  for (const ip of ["192.0.2.1:0", "192.0.2.1:70000", "2001:db8::1:179x", "router", "[10.0.0.1]:179"]) {
    rejects(peer({ peerIP: ip, asNumber: 65001 }), "spec.peerIP", /IP address with an optional port/);
  }
  assert.deepEqual(errorsOf(peer({ nodeSelector: "all()", peerSelector: "has(route-reflector)" })), []);
  rejects(peer({ node: "host1", nodeSelector: "all()", peerIP: "192.0.2.1", asNumber: 65001 }), "spec.node", /empty when nodeSelector/);
  rejects(peer({ peerIP: "192.0.2.1", peerSelector: "has(rr)" }), "spec.peerIP", /empty when peerSelector/);
  rejects(peer({ peerSelector: "has(rr)", asNumber: 65001 }), "spec.asNumber", /empty when peerSelector/);
  rejects(peer({ node: "host1" }), "spec.peerIP", /is required unless peerSelector/);
  rejects(peer({ peerIP: "192.0.2.1" }), "spec.asNumber", /is required with peerIP/);
  rejects(peer({ peerIP: "192.0.2.1", asNumber: 65001, reachableBy: "fd00::1" }), "spec.reachableBy", /same IP version/);
  rejects(peer({ peerSelector: "has(rr)", reachableBy: "10.0.0.1" }), "spec.reachableBy", /empty when peerIP is empty/);
  rejects(peer({ peerIP: "192.0.2.1", asNumber: 65001, keepOriginalNextHop: true, nextHopMode: "Keep" }), "spec.keepOriginalNextHop", /deprecated/);
  rejects(peer({ peerIP: "192.0.2.1", asNumber: 65001, nextHopMode: "Other" }), "spec.nextHopMode", /Auto, Self, Keep/);
  rejects(peer({ peerIP: "192.0.2.1", asNumber: 65001, sourceAddress: "Any" }), "spec.sourceAddress", /UseNodeIP, None/);
  rejects(peer({ peerIP: "192.0.2.1", asNumber: 65001, maxRestartTime: "soon" }), "spec.maxRestartTime", /duration/);
  rejects(peer({ peerIP: "192.0.2.1", asNumber: 65001, filters: ["Bad_Filter"] }), "spec.filters[0]", /BGPFilter name/);
  rejects(peer({ peerIP: "192.0.2.1", asNumber: 65001, password: { secretKeyRef: { name: "s" }, plain: "x" } }), "spec.password.plain", /unknown field/);
  rejects(peer({ peerIP: "192.0.2.1", asNumber: 65001, localWorkloadSelector: "x == 'y'" }), "spec.peerIP", /empty when localWorkloadSelector/);
  // what tabby cannot honour is refused, naming the field and why
  rejects(peer({ peerIP: "192.0.2.1", asNumber: 65001, localASNumber: 65002 }), "spec.localASNumber", /one AS per node/);
  rejects(peer({ peerIP: "192.0.2.1", asNumber: 65001, failureDetectionMode: "BFD" }), "spec.failureDetectionMode", /./);
  validateResource(peer({ peerIP: "192.0.2.1", asNumber: 65001, failureDetectionMode: "BFDIfDirectlyConnected" }));
  rejects(peer({ peerIP: "192.0.2.1", asNumber: 65001, restartMode: "LongLivedGracefulRestart" }), "spec.restartMode", /RFC 4724\) only/);
  rejects(peer({ peerIP: "192.0.2.1", asNumber: 65001, birdGatewayMode: "DirectIfDirectlyConnected" }), "spec.birdGatewayMode", /Recursive/);
  rejects(peer({ asNumber: 65001, localWorkloadSelector: "x == 'y'" }), "spec.localWorkloadSelector", /local workloads/);
  rejects(peer({ peerIP: "192.0.2.1", asNumber: 65001, password: { secretKeyRef: { name: "s" } } }), "spec.password.secretKeyRef.key", /is required/);
  validateResource(
    peer({
      peerIP: "192.0.2.1",
      asNumber: 65001,
      failureDetectionMode: "None",
      restartMode: "GracefulRestart",
      reversePeering: "Manual",
      numAllowedLocalASNumbers: 2,
      ttlSecurity: 1,
    }),
  );
});

test("BGPConfiguration: fields tabby cannot honour are refused with the reason", () => {
  const conf = (spec: Record<string, unknown>) => ({ apiVersion: V3, kind: "BGPConfiguration", metadata: { name: "default" }, spec });
  rejects(conf({ programClusterRoutes: "Disabled" }), "spec.programClusterRoutes", /no IPIP or VXLAN/);
  rejects(conf({ ipv4NormalRoutePriority: 1024 }), "spec.ipv4NormalRoutePriority", /default metric/);
  rejects(conf({ localWorkloadPeeringIPV4: "169.254.0.1/32" }), "spec.localWorkloadPeeringIPV4", /local workloads/);
  rejects(conf({ serviceLoadBalancerAggregation: "Enabled" }), "spec.serviceLoadBalancerAggregation", /never the range/);
  validateResource(conf({ programClusterRoutes: "EnabledNoEncapOnly", bindMode: "None", listenPort: 1179 }));
});

// ---------- generic kinds ----------

test("CalicoNodeStatus: refused when written (tabby does not fill it in); a stored one keeps its spec", () => {
  const gnp = { apiVersion: V3, kind: "CalicoNodeStatus", metadata: { name: "default" }, spec: { node: "a", whatever: { nested: [1, 2] } } };
  rejects(gnp, "spec", /tabby does not fill in CalicoNodeStatus objects; use `tabby node status`/);
  assert.deepEqual(validateResource(gnp, {}, { stored: true }).spec, gnp.spec);
  rejects({ ...gnp, metadata: { name: "Deny" } }, "metadata.name", /lower case/);
  rejects({ ...gnp, spec: [1] }, "spec", /must be an object/);
});

// ---------- properties ----------

test("property: validation is idempotent (a validated resource validates to itself)", () => {
  const arb = fc.record({
    a: fc.integer({ min: 0, max: 255 }),
    b: fc.integer({ min: 0, max: 255 }),
    len: fc.integer({ min: 8, max: 26 }),
    blockSize: fc.option(fc.integer({ min: 20, max: 32 }), { nil: undefined }),
    nat: fc.option(fc.boolean(), { nil: undefined }),
    ipip: fc.option(fc.constantFrom("Never", "Always", "CrossSubnet"), { nil: undefined }),
  });
  fc.assert(
    fc.property(arb, ({ a, b, len, blockSize, nat, ipip }) => {
      const cidr = `${a}.${b}.0.0/16`;
      void len;
      const spec: Record<string, unknown> = { cidr };
      if (blockSize !== undefined) spec.blockSize = blockSize;
      if (nat !== undefined) spec.natOutgoing = nat;
      if (ipip !== undefined) spec.ipipMode = ipip;
      let once;
      try {
        once = validateResource(pool(spec), {}, { stored: true });
      } catch (e) {
        // Only the link-local range may be refused here.
        assert.ok(a === 169 && b === 254, String(e));
        return;
      }
      assert.deepEqual(validateResource(once, {}, { stored: true }), once);
    }),
  );
});

test("property: an IPv4 blockSize is accepted exactly when it is within 20..32", () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 128 }), (bs) => {
      const errs = errorsOf(pool({ cidr: "10.0.0.0/8", blockSize: bs }));
      assert.equal(errs.length === 0, bs >= 20 && bs <= 32);
    }),
  );
});

test("BGPConfiguration annotation tabby.dev/mesh-ttl-security: on or off, on default only; BGPPeer ttlSecurity 0..254", () => {
  const ann = (v: string, name = "default") => ({ ...bgpconf({}, name), metadata: { name, annotations: { "tabby.dev/mesh-ttl-security": v } } });
  assert.deepEqual(errorsOf(ann("off")), []);
  assert.deepEqual(errorsOf(ann("on")), []);
  const path = 'metadata.annotations["tabby.dev/mesh-ttl-security"]';
  rejects(ann("false"), path, /must be "on" or "off", got "false"/);
  rejects(ann("off", "node.h1"), path, /cluster-wide BGPConfiguration "default"/);
  const peer = (ttlSecurity: number) => ({
    apiVersion: V3,
    kind: "BGPPeer",
    metadata: { name: "tor" },
    spec: { peerIP: "10.0.0.1", asNumber: 65000, ttlSecurity },
  });
  assert.deepEqual(errorsOf(peer(0)), []);
  assert.deepEqual(errorsOf(peer(254)), []);
  rejects(peer(255), "spec.ttlSecurity", /254/);
});
