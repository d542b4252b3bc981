import { test } from "node:test";
import assert from "node:assert/strict";
import { validateResource, ValidationError, type GlobalNetworkPolicy, type NetworkPolicy, type Tier } from "./index.js";

const V3 = "projectcalico.org/v3";
const res = (kind: string, name: string, spec: unknown, namespace?: string) => ({
  apiVersion: V3,
  kind,
  metadata: namespace === undefined ? { name } : { name, namespace },
  spec,
});

function errorsOf(input: unknown): { path: string; message: string }[] {
  try {
    validateResource(input);
  } catch (err) {
    assert.ok(err instanceof ValidationError);
    return err.errors;
  }
  return [];
}
function rejects(input: unknown, path: string, re: RegExp): void {
  const errs = errorsOf(input);
  const hit = errs.find((e) => e.path === path);
  assert.ok(hit, `no error at ${path}; got ${JSON.stringify(errs)}`);
  assert.match(hit.message, re);
}

test("Tier: defaults, built-in orders fixed, names without dots", () => {
  const t = validateResource<Tier>(res("Tier", "security", { order: 100 }));
  assert.deepEqual(t.spec, { order: 100, defaultAction: "Deny" });
  assert.deepEqual(validateResource<Tier>(res("Tier", "default", {})).spec, { order: 1_000_000, defaultAction: "Deny" });
  assert.deepEqual(validateResource<Tier>(res("Tier", "kube-admin", {})).spec, { order: 1000, defaultAction: "Pass" });
  assert.deepEqual(validateResource<Tier>(res("Tier", "open", {})).spec, { defaultAction: "Deny" });
  rejects(res("Tier", "default", { order: 5 }), "spec.order", /fixed at 1000000/);
  rejects(res("Tier", "a.b", {}), "metadata.name", /DNS-1123 label/);
  rejects(res("Tier", "x", { defaultAction: "Allow" }), "spec.defaultAction", /Deny, Pass/);
  rejects(res("Tier", "x", { order: "1" }), "spec.order", /number/);
});

test("NetworkPolicy: tier default, tiered names, inferred types", () => {
  const np = validateResource<NetworkPolicy>(res("NetworkPolicy", "allow-web", { selector: "app == 'web'", ingress: [{ action: "Allow" }] }, "prod"));
  assert.equal(np.spec.tier, "default");
  assert.deepEqual(np.spec.types, ["Ingress"]);
  const eg = validateResource<NetworkPolicy>(res("NetworkPolicy", "sec.out", { tier: "sec", egress: [{ action: "Deny" }] }, "prod"));
  assert.deepEqual(eg.spec.types, ["Egress"]);
  const both = validateResource<NetworkPolicy>(res("NetworkPolicy", "both", { ingress: [{ action: "Allow" }], egress: [{ action: "Allow" }] }, "prod"));
  assert.deepEqual(both.spec.types, ["Ingress", "Egress"]);
  const none = validateResource<NetworkPolicy>(res("NetworkPolicy", "deny-all", {}, "prod"));
  assert.deepEqual(none.spec.types, ["Ingress"]);
  const explicit = validateResource<NetworkPolicy>(res("NetworkPolicy", "x", { types: ["Egress"] }, "prod"));
  assert.deepEqual(explicit.spec.types, ["Egress"]);
  validateResource(res("NetworkPolicy", "default.x", {}, "prod"));
  validateResource(res("NetworkPolicy", "knp.default.x", {}, "prod"));
  rejects(res("NetworkPolicy", "out", { tier: "sec" }, "prod"), "metadata.name", /start with the tier name and a dot \("sec\."\)/);
  rejects(res("NetworkPolicy", "other.out", {}, "prod"), "metadata.name", /default tier/);
  rejects(res("NetworkPolicy", "x", {}), "metadata.namespace", /required/);
  rejects(res("NetworkPolicy", "x", { types: ["Ingress", "Ingress"] }, "prod"), "spec.types", /repeat/);
  rejects(res("NetworkPolicy", "x", { selector: "app == " }, "prod"), "spec.selector", /valid selector.*position/);
  rejects(res("NetworkPolicy", "x", { tier: "A" }, "prod"), "spec.tier", /DNS-1123/);
});

test("GlobalNetworkPolicy: doNotTrack/preDNAT/applyOnForward constraints", () => {
  const g = validateResource<GlobalNetworkPolicy>(res("GlobalNetworkPolicy", "pre", { preDNAT: true, applyOnForward: true, ingress: [{ action: "Deny" }] }));
  assert.deepEqual(g.spec.types, ["Ingress"]);
  rejects(res("GlobalNetworkPolicy", "p", { preDNAT: true }), "spec.applyOnForward", /must be true when preDNAT/);
  rejects(res("GlobalNetworkPolicy", "p", { doNotTrack: true }), "spec.applyOnForward", /must be true when doNotTrack/);
  rejects(res("GlobalNetworkPolicy", "p", { doNotTrack: true, preDNAT: true, applyOnForward: true }), "spec.preDNAT", /together with doNotTrack/);
  rejects(res("GlobalNetworkPolicy", "p", { preDNAT: true, applyOnForward: true, egress: [{ action: "Allow" }] }), "spec.egress", /egress rules/);
  rejects(res("GlobalNetworkPolicy", "p", { preDNAT: true, applyOnForward: true, types: ["Egress"] }), "spec.types", /Egress type/);
  rejects(res("GlobalNetworkPolicy", "p", { namespaceSelector: "a in {" }), "spec.namespaceSelector", /valid selector/);
  rejects(res("GlobalNetworkPolicy", "p", {}, "ns"), "metadata.namespace", /must not be set/);
});

test("Rules: actions, protocols, ICMP, ports, nets and selectors with field paths", () => {
  const rule = (r: unknown) => res("GlobalNetworkPolicy", "p", { ingress: [r] });
  rejects(rule({ action: "Reject" }), "spec.ingress[0].action", /Allow, Deny, Log, Pass/);
  rejects(rule({}), "spec.ingress[0].action", /required/);
  rejects(rule({ action: "Allow", protocol: "GRE" }), "spec.ingress[0].protocol", /number 1-255/);
  rejects(rule({ action: "Allow", protocol: 256 }), "spec.ingress[0].protocol", /between 1 and 255/);
  rejects(rule({ action: "Allow", notProtocol: "Foo" }), "spec.ingress[0].notProtocol", /number 1-255/);
  rejects(rule({ action: "Allow", protocol: "TCP", icmp: { type: 8 } }), "spec.ingress[0].icmp", /ICMP or ICMPv6/);
  rejects(rule({ action: "Allow", protocol: "UDP", notICMP: { type: 8 } }), "spec.ingress[0].notICMP", /ICMP or ICMPv6/);
  rejects(rule({ action: "Allow", protocol: "ICMP", icmp: { type: 255 } }), "spec.ingress[0].icmp.type", /between 0 and 254/);
  rejects(rule({ action: "Allow", protocol: "ICMP", icmp: { code: 0 } }), "spec.ingress[0].icmp.code", /without an ICMP type/);
  rejects(rule({ action: "Allow", protocol: "ICMP", icmp: { type: 3, code: 256 } }), "spec.ingress[0].icmp.code", /between 0 and 255/);
  rejects(rule({ action: "Allow", destination: { ports: ["http"] } }), "spec.ingress[0].destination.ports", /TCP, UDP or SCTP/);
  rejects(rule({ action: "Allow", protocol: "ICMP", destination: { notPorts: [80] } }), "spec.ingress[0].destination.notPorts", /TCP, UDP or SCTP/);
  rejects(rule({ action: "Allow", protocol: "TCP", destination: { ports: ["90:80"] } }), "spec.ingress[0].destination.ports[0]", /min <= max/);
  rejects(rule({ action: "Allow", protocol: "TCP", destination: { ports: ["-bad-"] } }), "spec.ingress[0].destination.ports[0]", /port name/);
  rejects(rule({ action: "Allow", source: { nets: ["10.0.0.0/33"] } }), "spec.ingress[0].source.nets[0]", /CIDR/);
  rejects(rule({ action: "Allow", source: { nets: ["10.0.0.0/8"], notNets: ["fd00::/8"] } }), "spec.ingress[0]", /both IPv4 and IPv6/);
  rejects(rule({ action: "Allow", source: { selector: "a ==" } }), "spec.ingress[0].source.selector", /valid selector/);
  rejects(rule({ action: "Allow", source: { notSelector: "has(" } }), "spec.ingress[0].source.notSelector", /valid selector/);
  rejects(rule({ action: "Allow", source: { namespaceSelector: "x = 'y'" } }), "spec.ingress[0].source.namespaceSelector", /valid selector/);
  rejects(rule({ action: "Allow", source: { serviceAccounts: { names: [""] } } }), "spec.ingress[0].source.serviceAccounts.names[0]", /empty/);
  rejects(rule({ action: "Allow", source: { serviceAccounts: { selector: "(" } } }), "spec.ingress[0].source.serviceAccounts.selector", /valid selector/);
  const ok = validateResource<GlobalNetworkPolicy>(
    rule({ action: "Pass", protocol: "TCP", destination: { ports: [80, "8000:8080", "http"], notPorts: ["metrics"] } }),
  );
  assert.deepEqual(ok.spec.ingress?.[0]?.destination?.ports, [80, "8000:8080", "http"]);
  validateResource(rule({ action: "Log", protocol: 132, source: { ports: [9] } }));
  validateResource(rule({ action: "Allow", protocol: "ICMPv6", icmp: { type: 128, code: 0 } }));
});

test("NetworkSet, GlobalNetworkSet and HostEndpoint", () => {
  validateResource(res("NetworkSet", "ext", { nets: ["10.1.0.0/16", "2001:db8::/32"] }, "prod"));
  validateResource(res("GlobalNetworkSet", "ext", { nets: ["192.0.2.1"] }));
  rejects(res("GlobalNetworkSet", "ext", { nets: ["nope"] }), "spec.nets[0]", /CIDR/);
  rejects(res("NetworkSet", "ext", { nets: [] }), "metadata.namespace", /required/);
  validateResource(
    res("HostEndpoint", "h1-eth0", { node: "h1", interfaceName: "eth0", expectedIPs: ["10.0.0.1"], ports: [{ name: "ssh", protocol: "TCP", port: 22 }] }),
  );
  validateResource(res("HostEndpoint", "h1-all", { node: "h1", interfaceName: "*" }));
  rejects(res("HostEndpoint", "h", { interfaceName: "eth0" }), "spec.node", /required/);
  rejects(res("HostEndpoint", "h", { node: "h1" }), "spec.interfaceName", /expectedIPs/);
  rejects(res("HostEndpoint", "h", { node: "h1", expectedIPs: ["10.0.0.1/24"] }), "spec.expectedIPs[0]", /IP address/);
  rejects(
    res("HostEndpoint", "h", { node: "h1", interfaceName: "eth0", ports: [{ name: "x", protocol: "ICMP", port: 1 }] }),
    "spec.ports[0].protocol",
    /TCP, UDP or SCTP/,
  );
  rejects(res("HostEndpoint", "h", { node: "h1", interfaceName: "eth0", profiles: ["Bad_Name"] }), "spec.profiles[0]", /profile name/);
});

test("existing kinds: selectors parsed (IPPool nodeSelector, BGPPeer selectors, Profile rules)", () => {
  rejects(res("IPPool", "p", { cidr: "10.0.0.0/16", nodeSelector: "zone ==" }), "spec.nodeSelector", /valid selector/);
  rejects(res("BGPPeer", "p", { nodeSelector: "all(", peerIP: "10.0.0.1", asNumber: 65000 }), "spec.nodeSelector", /valid selector/);
  rejects(res("BGPPeer", "p", { peerSelector: "has(rr" }), "spec.peerSelector", /valid selector/);
  rejects(res("Profile", "p", { ingress: [{ action: "Allow", source: { selector: "a in {'x'" } }] }), "spec.ingress[0].source.selector", /valid selector/);
  validateResource(res("IPPool", "p", { cidr: "10.0.0.0/16", nodeSelector: "zone == 'a' && !has(edge)" }));
});
