/**
 * WorkloadEndpoint (namespaced): the host side of a workload's interface (libcalico-go
 * internalapi WorkloadEndpointSpec, `validateWorkloadEndpointSpec`): `ipNetworks` are single
 * addresses only (/32, /128); gateways of the right family; every `ipNATs[].internalIP` inside
 * the endpoint's networks; `interfaceName` at most 15 of [A-Za-z0-9_.-]; `ports` need a name
 * (or hostPort) and a protocol that has ports. Names follow clientv3's
 * `<node>-<orchestrator>-<workload>-<endpoint>` (k8s: the pod, cni: the containerID) with every
 * `-` inside a segment doubled; a missing name is derived from the spec, a given one must match.
 * Like clientv3, the labels `projectcalico.org/namespace` and `projectcalico.org/orchestrator`
 * are set from the namespace and spec on every write (users cannot override them).
 * Pure: no I/O.
 */
import { anything, arrayOf, type Checker, cidrField, describe, int, ipField, isPlainObject, matching, object, str, type Field } from "./check.js";
import { macField } from "./node.js";
import { nameProblem } from "./meta.js";
import { protocolField, type Protocol } from "./rules.js";
import { tryParseIP, tryParsePrefix } from "../net/index.js";
import type { Resource } from "./resource.js";

export interface WorkloadEndpointPort {
  name?: string;
  protocol: Protocol;
  port: number;
  hostPort?: number;
  hostIP?: string;
}
export interface IPNAT {
  internalIP: string;
  externalIP: string;
}
export interface WorkloadEndpointSpec {
  orchestrator?: string;
  workload?: string;
  node?: string;
  containerID?: string;
  pod?: string;
  endpoint?: string;
  serviceAccountName?: string;
  ipNetworks?: string[];
  ipNATs?: IPNAT[];
  ipv4Gateway?: string;
  ipv6Gateway?: string;
  profiles?: string[];
  interfaceName?: string;
  mac?: string;
  ports?: WorkloadEndpointPort[];
  allowSpoofedSourcePrefixes?: string[];
  qosControls?: unknown;
}
export type WorkloadEndpoint = Resource<"WorkloadEndpoint", WorkloadEndpointSpec>;

const hostNetwork: Field<string> = (v, path, c) => {
  const s = cidrField()(v, path, c);
  if (s === undefined) return undefined;
  const p = tryParsePrefix(s)!;
  if (p.len !== p.maxLen) return void c.error(path, `must be a single address (/${p.maxLen}), got ${s}`);
  return s;
};

const port = object<WorkloadEndpointPort>({
  name: str,
  protocol: protocolField,
  port: int(1, 65535),
  hostPort: int(0, 65535),
  hostIP: ipField(),
});

const specSchema = object<WorkloadEndpointSpec>({
  orchestrator: str,
  workload: str,
  node: str,
  containerID: matching(/^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?$/, "a container ID of letters, digits and '-'"),
  pod: str,
  endpoint: str,
  serviceAccountName: str,
  ipNetworks: arrayOf(hostNetwork),
  ipNATs: arrayOf(object<IPNAT>({ internalIP: ipField(), externalIP: ipField() })),
  ipv4Gateway: ipField(4),
  ipv6Gateway: ipField(6),
  profiles: arrayOf((v, p, c) => {
    const s = str(v, p, c);
    const np = s === undefined ? undefined : nameProblem(s);
    return np ? void c.error(p, `profile name ${np}`) : s;
  }),
  interfaceName: matching(/^[a-zA-Z0-9_.-]{1,15}$/, "an interface name of at most 15 characters [A-Za-z0-9_.-]"),
  mac: macField,
  ports: arrayOf(port),
  allowSpoofedSourcePrefixes: arrayOf(cidrField()),
  qosControls: anything,
});

/** Escapes one name segment the way Calico does: every "-" becomes "--". */
function seg(s: string): string {
  return s.replace(/-/g, "--");
}

/** The spec fields that make up a workload endpoint's name, per orchestrator (Calico's `names` package). */
function nameSegments(spec: WorkloadEndpointIdentifiers): (string | undefined)[] {
  switch (spec.orchestrator) {
    case "k8s":
      return [spec.node, spec.orchestrator, spec.pod, spec.endpoint];
    case "cni":
      return [spec.node, spec.orchestrator, spec.containerID, spec.endpoint];
    case "libnetwork":
      return [spec.node, spec.orchestrator, spec.orchestrator, spec.endpoint];
    default:
      return [spec.node, spec.orchestrator, spec.workload, spec.endpoint];
  }
}

export type WorkloadEndpointIdentifiers = Pick<WorkloadEndpointSpec, "node" | "orchestrator" | "workload" | "pod" | "containerID" | "endpoint">;

/**
 * The name Calico gives a workload endpoint: `<node>-<orchestrator>-<id>-<endpoint>` where id
 * is the pod (k8s), the containerID (cni), the orchestrator again (libnetwork) or the workload,
 * each segment with its "-" doubled. Undefined when an identifier is missing or a segment
 * starts or ends with "-" (the escaping could not be undone).
 */
export function workloadEndpointName(spec: WorkloadEndpointIdentifiers): string | undefined {
  const segs = nameSegments(spec);
  if (segs.some((x) => !x || x.startsWith("-") || x.endsWith("-"))) return undefined;
  return (segs as string[]).map(seg).join("-");
}

export function checkWorkloadEndpointSpec(v: unknown, c: Checker): WorkloadEndpointSpec | undefined {
  const spec = specSchema(v, "spec", c);
  if (!spec) return undefined;
  spec.ports?.forEach((p, i) => {
    const at = `spec.ports[${i}]`;
    if (p.protocol === undefined && c.errors.every((e) => e.path !== `${at}.protocol`)) c.error(`${at}.protocol`, "is required");
    else if (p.protocol !== undefined && !["TCP", "UDP", "SCTP", 6, 17, 132].includes(p.protocol))
      c.error(`${at}.protocol`, `must be TCP, UDP or SCTP (a protocol with ports), got ${describe(p.protocol)}`);
    if (p.port === undefined && c.errors.every((e) => e.path !== `${at}.port`)) c.error(`${at}.port`, "is required");
    if (!p.name && !p.hostPort) c.error(`${at}.name`, "is required when no hostPort is given");
  });
  const nets = (spec.ipNetworks ?? []).map((n) => tryParsePrefix(n)).filter((p) => p !== undefined);
  // Field inventory: tabby programs no floating-IP DNAT and no QoS shaping; refused, never ignored.
  if (spec.ipNATs?.length) c.unsupported("spec.ipNATs", "floating IPs (1:1 NAT) are not implemented by tabby's dataplane; remove ipNATs");
  if (spec.qosControls !== undefined && !(isPlainObject(spec.qosControls) && Object.keys(spec.qosControls).length === 0)) {
    c.unsupported("spec.qosControls", "bandwidth and packet-rate limits are not implemented by tabby's dataplane; remove qosControls");
  }
  spec.ipNATs?.forEach((nat, i) => {
    const at = `spec.ipNATs[${i}]`;
    if (nat.internalIP === undefined) c.error(`${at}.internalIP`, "is required");
    if (nat.externalIP === undefined) c.error(`${at}.externalIP`, "is required");
    const ii = nat.internalIP ? tryParseIP(nat.internalIP) : undefined;
    const ei = nat.externalIP ? tryParseIP(nat.externalIP) : undefined;
    if (ii && ei && ii.family !== ei.family) c.error(at, "internalIP and externalIP must be of the same IP version");
    if (ii && !nets.some((n) => n.contains(ii))) c.error(`${at}.internalIP`, `${nat.internalIP} is not one of the endpoint's ipNetworks`);
  });
  return spec;
}

/** Name rule for WorkloadEndpoints: a DNS-1123 subdomain, matching the spec's identifiers when they are all set. */
export function checkWorkloadEndpointName(name: string, spec: WorkloadEndpointSpec | undefined, c: Checker): string {
  const expected = spec ? workloadEndpointName(spec) : undefined;
  if (name === "" && expected) return expected;
  const np = nameProblem(name);
  if (np) c.error("metadata.name", np);
  else if (expected && name !== expected) {
    c.error(
      "metadata.name",
      `does not match the identifiers in the spec (node, orchestrator, pod/containerID/workload, endpoint): expected ${expected}, got ${name}`,
    );
  }
  return name;
}
