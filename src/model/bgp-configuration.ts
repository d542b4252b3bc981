/**
 * BGPConfiguration (cluster-scoped; `default` for the cluster, `node.<name>` per node).
 * The cluster-wide `default` gets Calico's defaults filled in: asNumber 64512,
 * nodeToNodeMeshEnabled true, logSeverityScreen Info, listenPort 179. Node-specific
 * configurations (any other name) may not set the cluster-only fields nodeToNodeMeshEnabled,
 * asNumber, serviceClusterIPs and serviceExternalIPs (clientv3 `ValidateDefaultOnlyFields`), nor
 * nodeMeshPassword and nodeMeshMaxRestartTime (confd reads them from the global config only, so
 * a per-node value would be ignored; tabby refuses it). Fields the agent cannot honour are
 * refused (`unsupportedConfigFields`).
 * Communities are standard `aa:nn` (RFC 1997) or large `a:b:c` (RFC 8092).
 * tabby's own knob, annotation `tabby.dev/mesh-ttl-security` (`"on"`, the default, or `"off"`):
 * whether node-to-node sessions between nodes on a shared subnet get GTSM (docs/bgp.md);
 * cluster-wide, so `default` only, and any other value is refused.
 * Pure: no I/O.
 */
import { arrayOf, asNumber, bool, type Checker, cidrField, duration, int, matching, object, oneOf, reorder, str, type Field } from "./check.js";
import { DNS1123_SUBDOMAIN } from "./meta.js";
import type { Resource } from "./resource.js";

export interface SecretKeyRef {
  name: string;
  key: string;
}
export interface BGPPassword {
  secretKeyRef?: SecretKeyRef;
}
export interface Community {
  name: string;
  value: string;
}
export interface PrefixAdvertisement {
  cidr: string;
  communities?: string[];
}
export interface BGPConfigurationSpec {
  logSeverityScreen?: "Trace" | "Debug" | "Info" | "Warning" | "Error" | "Fatal";
  nodeToNodeMeshEnabled?: boolean;
  asNumber?: number;
  serviceLoadBalancerIPs?: { cidr: string }[];
  serviceExternalIPs?: { cidr: string }[];
  serviceClusterIPs?: { cidr: string }[];
  serviceLoadBalancerAggregation?: "Enabled" | "Disabled";
  listenPort?: number;
  communities?: Community[];
  prefixAdvertisements?: PrefixAdvertisement[];
  nodeMeshPassword?: BGPPassword;
  nodeMeshMaxRestartTime?: string;
  bindMode?: "None" | "NodeIP";
  ignoredInterfaces?: string[];
  localWorkloadPeeringIPV4?: string;
  localWorkloadPeeringIPV6?: string;
  programClusterRoutes?: "Disabled" | "EnabledIPIPOnly" | "EnabledNoEncapOnly" | "Enabled";
  ipv4NormalRoutePriority?: number;
  ipv6NormalRoutePriority?: number;
  ipv4ElevatedRoutePriority?: number;
  ipv6ElevatedRoutePriority?: number;
}
export type BGPConfiguration = Resource<"BGPConfiguration", BGPConfigurationSpec>;

const secretKeyRef = object<SecretKeyRef>({ name: str, key: str });
export const passwordField: Field<BGPPassword> = object<BGPPassword>({
  secretKeyRef: (v, p, c) => {
    const r = secretKeyRef(v, p, c);
    if (r && r.name === undefined && c.errors.every((e) => e.path !== `${p}.name`)) c.error(`${p}.name`, "is required");
    if (r && r.key === undefined && c.errors.every((e) => e.path !== `${p}.key`)) c.error(`${p}.key`, "is required");
    return r;
  },
});

/** Why `v` is not a BGP community value, or undefined. */
export function communityProblem(v: string): string | undefined {
  const std = /^(\d+):(\d+)$/.exec(v);
  if (std) return Number(std[1]) <= 0xffff && Number(std[2]) <= 0xffff ? undefined : `standard community ${v} must be aa:nn with both parts at most 65535`;
  const large = /^(\d+):(\d+):(\d+)$/.exec(v);
  if (large) return large.slice(1).every((x) => Number(x) <= 0xffffffff) ? undefined : `large community ${v} must have every part at most 4294967295`;
  return `must be a community aa:nn or a:b:c, got ${JSON.stringify(v)}`;
}

const communityValue: Field<string> = (v, p, c) => {
  const s = str(v, p, c);
  if (s === undefined) return undefined;
  const m = communityProblem(s);
  return m ? void c.error(p, m) : s;
};

const serviceCIDR = object<{ cidr: string }>({ cidr: cidrField() });
const routePriority = int(1, 2147483646);

const FIELDS: { [K in keyof BGPConfigurationSpec]-?: Field<BGPConfigurationSpec[K]> } = {
  logSeverityScreen: oneOf(["Trace", "Debug", "Info", "Warning", "Error", "Fatal"] as const),
  nodeToNodeMeshEnabled: bool,
  asNumber,
  serviceLoadBalancerIPs: arrayOf(serviceCIDR),
  serviceExternalIPs: arrayOf(serviceCIDR),
  serviceClusterIPs: arrayOf(serviceCIDR),
  serviceLoadBalancerAggregation: oneOf(["Enabled", "Disabled"] as const),
  listenPort: int(1, 65535),
  communities: arrayOf(object<Community>({ name: matching(DNS1123_SUBDOMAIN, "a name of lower case alphanumerics, '-' and '.'"), value: communityValue })),
  prefixAdvertisements: arrayOf(object<PrefixAdvertisement>({ cidr: cidrField(), communities: arrayOf(str) })),
  nodeMeshPassword: passwordField,
  nodeMeshMaxRestartTime: duration,
  bindMode: oneOf(["None", "NodeIP"] as const),
  ignoredInterfaces: arrayOf(matching(/^[a-zA-Z0-9_.*-]{1,15}$/, "an interface name or pattern of at most 15 characters [A-Za-z0-9_.*-]")),
  localWorkloadPeeringIPV4: cidrField({ family: 4 }),
  localWorkloadPeeringIPV6: cidrField({ family: 6 }),
  programClusterRoutes: oneOf(["Disabled", "EnabledIPIPOnly", "EnabledNoEncapOnly", "Enabled"] as const),
  ipv4NormalRoutePriority: routePriority,
  ipv6NormalRoutePriority: routePriority,
  ipv4ElevatedRoutePriority: routePriority,
  ipv6ElevatedRoutePriority: routePriority,
};
const specSchema = object<BGPConfigurationSpec>(FIELDS);

/** Annotation on BGPConfiguration `default`: GTSM on node-to-node sessions across one link ("on", default) or not ("off"). */
export const MESH_TTL_SECURITY_ANNOTATION = "tabby.dev/mesh-ttl-security";
export const MESH_TTL_SECURITY_VALUES = ["on", "off"] as const;

/** Why a BGPConfiguration's `tabby.dev/mesh-ttl-security` annotation cannot be honoured, or undefined. */
export function meshTtlSecurityProblem(name: string, annotations: Record<string, unknown> | undefined): string | undefined {
  const v = annotations?.[MESH_TTL_SECURITY_ANNOTATION];
  if (v === undefined) return undefined;
  // both ends of a session must agree, so the knob is cluster-wide
  if (name !== "default") return `can only be set on the cluster-wide BGPConfiguration "default", not on ${JSON.stringify(name)}`;
  if (!(MESH_TTL_SECURITY_VALUES as readonly unknown[]).includes(v)) return `must be "on" or "off", got ${JSON.stringify(v)}`;
  return undefined;
}

export const BGP_DEFAULTS = { asNumber: 64512, nodeToNodeMeshEnabled: true, logSeverityScreen: "Info", listenPort: 179 } as const;

export function checkBGPConfigurationSpec(v: unknown, c: Checker, name: string): BGPConfigurationSpec | undefined {
  const spec = specSchema(v, "spec", c);
  if (!spec) return undefined;
  const names = new Set<string>();
  spec.communities?.forEach((cm, i) => {
    if (cm.name === undefined) c.error(`spec.communities[${i}].name`, "is required");
    else if (names.has(cm.name)) c.error(`spec.communities[${i}].name`, `repeats ${cm.name}`);
    else names.add(cm.name);
    if (cm.value === undefined && c.errors.every((e) => e.path !== `spec.communities[${i}].value`)) c.error(`spec.communities[${i}].value`, "is required");
  });
  spec.prefixAdvertisements?.forEach((pa, i) => {
    if (pa.cidr === undefined && c.errors.every((e) => e.path !== `spec.prefixAdvertisements[${i}].cidr`))
      c.error(`spec.prefixAdvertisements[${i}].cidr`, "is required");
    pa.communities?.forEach((cv, j) => {
      if (!names.has(cv) && communityProblem(cv))
        c.error(
          `spec.prefixAdvertisements[${i}].communities[${j}]`,
          `must be a community value (aa:nn or a:b:c) or the name of one in spec.communities, got ${JSON.stringify(cv)}`,
        );
    });
  });
  if (name !== "default") {
    // the mesh's password and restart time must be the same on both ends: cluster-wide only
    for (const f of ["nodeToNodeMeshEnabled", "asNumber", "serviceClusterIPs", "serviceExternalIPs", "nodeMeshPassword", "nodeMeshMaxRestartTime"] as const) {
      const x = spec[f];
      if (x !== undefined && !(Array.isArray(x) && x.length === 0))
        c.error(`spec.${f}`, `can only be set in the cluster-wide BGPConfiguration "default", not in ${JSON.stringify(name)}`);
    }
  }
  for (const [path, why] of unsupportedConfigFields(spec)) c.error(path, why);
  if (name === "default") {
    spec.asNumber ??= BGP_DEFAULTS.asNumber;
    spec.nodeToNodeMeshEnabled ??= BGP_DEFAULTS.nodeToNodeMeshEnabled;
    spec.logSeverityScreen ??= BGP_DEFAULTS.logSeverityScreen;
    spec.listenPort ??= BGP_DEFAULTS.listenPort;
  }
  return reorder(spec, Object.keys(FIELDS));
}

/**
 * Fields Calico defines that tabby's agent cannot honour: refused with the reason, never
 * accepted and ignored (docs/resources.md lists every field).
 */
export function unsupportedConfigFields(spec: BGPConfigurationSpec): [string, string][] {
  const out: [string, string][] = [];
  for (const f of ["localWorkloadPeeringIPV4", "localWorkloadPeeringIPV6"] as const) {
    if (spec[f] !== undefined) out.push([`spec.${f}`, "is not supported: tabby does not peer with local workloads"]);
  }
  if (spec.programClusterRoutes === "Disabled" || spec.programClusterRoutes === "EnabledIPIPOnly") {
    out.push([
      "spec.programClusterRoutes",
      `${spec.programClusterRoutes} is not supported: tabby has no IPIP or VXLAN and always programs the routes it learns over BGP (Enabled or EnabledNoEncapOnly)`,
    ]);
  }
  if (spec.serviceLoadBalancerAggregation === "Enabled") {
    out.push([
      "spec.serviceLoadBalancerAggregation",
      "Enabled is not supported: tabby advertises each LoadBalancer address a node's workloads hold as a host route, never the range (Disabled)",
    ]);
  }
  for (const f of ["ipv4NormalRoutePriority", "ipv6NormalRoutePriority", "ipv4ElevatedRoutePriority", "ipv6ElevatedRoutePriority"] as const) {
    if (spec[f] !== undefined)
      out.push([
        `spec.${f}`,
        "is not supported: tabby programs learned routes with the kernel's default metric and has no elevated priority for migrating workloads",
      ]);
  }
  return out;
}
