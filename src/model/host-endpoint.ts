/**
 * HostEndpoint (cluster-scoped): one of a host's own interfaces, or all of them (`interfaceName:
 * "*"`), under policy (Calico v3 `HostEndpointSpec`, `validateHostEndpointSpec`): `node` required;
 * `interfaceName` or `expectedIPs` (at least one); `expectedIPs` are addresses (they fill the IP
 * sets of selectors that select the endpoint); `profiles`; named `ports` with TCP/UDP/SCTP.
 * Pure: no I/O.
 */
import { arrayOf, type Checker, describe, int, ipField, matching, object, str } from "./check.js";
import { nameProblem } from "./meta.js";
import { protocolField, type Protocol } from "./rules.js";
import type { Resource } from "./resource.js";

export interface EndpointPort {
  name: string;
  protocol: Protocol;
  port: number;
}
export interface HostEndpointSpec {
  node?: string;
  interfaceName?: string;
  expectedIPs?: string[];
  profiles?: string[];
  ports?: EndpointPort[];
}
export type HostEndpoint = Resource<"HostEndpoint", HostEndpointSpec>;

const specSchema = object<HostEndpointSpec>({
  node: str,
  interfaceName: matching(/^(\*|[a-zA-Z0-9_.:@-]{1,15})$/, 'an interface name of at most 15 characters, or "*"'),
  expectedIPs: arrayOf(ipField()),
  profiles: arrayOf((v, p, c) => {
    const s = str(v, p, c);
    const np = s === undefined ? undefined : nameProblem(s);
    return np ? void c.error(p, `profile name ${np}`) : s;
  }),
  ports: arrayOf(object<EndpointPort>({ name: str, protocol: protocolField, port: int(1, 65535) })),
});

export function checkHostEndpointSpec(v: unknown, c: Checker): HostEndpointSpec | undefined {
  const spec = specSchema(v, "spec", c);
  if (!spec) return undefined;
  if (!spec.node && !c.errors.some((e) => e.path === "spec.node")) c.error("spec.node", "is required");
  if (!spec.interfaceName && !spec.expectedIPs?.length && !c.errors.some((e) => e.path.startsWith("spec.interfaceName"))) {
    c.error("spec.interfaceName", "is required when expectedIPs is empty (give interfaceName, expectedIPs, or both)");
  }
  spec.ports?.forEach((p, i) => {
    const at = `spec.ports[${i}]`;
    if (!p.name) c.error(`${at}.name`, "is required");
    if (p.protocol === undefined && !c.errors.some((e) => e.path === `${at}.protocol`)) c.error(`${at}.protocol`, "is required");
    else if (p.protocol !== undefined && !["TCP", "UDP", "SCTP", 6, 17, 132].includes(p.protocol))
      c.error(`${at}.protocol`, `must be TCP, UDP or SCTP (a protocol with ports), got ${describe(p.protocol)}`);
    if (p.port === undefined && !c.errors.some((e) => e.path === `${at}.port`)) c.error(`${at}.port`, "is required");
  });
  return spec;
}
