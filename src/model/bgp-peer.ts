/**
 * BGPPeer (cluster-scoped): which nodes peer (`node` | `nodeSelector`, neither = all) with what
 * (`peerIP` "ip[:port]" + `asNumber`, or Calico nodes by `peerSelector`). Checks follow
 * libcalico-go `validateBGPPeerSpec`: node and nodeSelector exclusive; peerIP and peerSelector
 * exclusive; asNumber not with peerSelector; reachableBy needs a peerIP of the same family;
 * the deprecated keepOriginalNextHop not together with nextHopMode.
 * Pure: no I/O.
 */
import { arrayOf, asNumber, bool, type Checker, describe, duration, int, ipField, matching, object, oneOf, selectorField, str, type Field } from "./check.js";
import { DNS1123_SUBDOMAIN } from "./meta.js";
import { passwordField, type BGPPassword } from "./bgp-configuration.js";
import { tryParseIP, type IP } from "../net/index.js";
import type { Resource } from "./resource.js";

export interface BGPPeerSpec {
  node?: string;
  nodeSelector?: string;
  peerIP?: string;
  asNumber?: number;
  peerSelector?: string;
  localASNumber?: number;
  keepOriginalNextHop?: boolean;
  nextHopMode?: "Auto" | "Self" | "Keep";
  password?: BGPPassword;
  sourceAddress?: "UseNodeIP" | "None";
  failureDetectionMode?: "None" | "BFDIfDirectlyConnected";
  restartMode?: "GracefulRestart" | "LongLivedGracefulRestart";
  maxRestartTime?: string;
  keepaliveTime?: string;
  birdGatewayMode?: "Recursive" | "DirectIfDirectlyConnected";
  numAllowedLocalASNumbers?: number;
  ttlSecurity?: number;
  reachableBy?: string;
  filters?: string[];
  localWorkloadSelector?: string;
  reversePeering?: "Auto" | "Manual";
}
export type BGPPeer = Resource<"BGPPeer", BGPPeerSpec>;

/** Splits a BGPPeer peerIP: "1.2.3.4", "1.2.3.4:1179", "2001:db8::1", "[2001:db8::1]:1179". */
export function parsePeerIP(text: string): { ip: IP; port?: number } | undefined {
  let host = text;
  let port: number | undefined;
  const v6 = /^\[([^\]]+)\]:(\d+)$/.exec(text);
  const v4 = /^([\d.]+):(\d+)$/.exec(text);
  if (v6) [host, port] = [v6[1]!, Number(v6[2])];
  else if (v4) [host, port] = [v4[1]!, Number(v4[2])];
  const ip = tryParseIP(host);
  if (!ip) return undefined;
  if (v4 && ip.family !== 4) return undefined;
  if (v6 && ip.family !== 6) return undefined;
  if (port !== undefined && (port < 1 || port > 65535)) return undefined;
  return port === undefined ? { ip } : { ip, port };
}

const peerIPField: Field<string> = (v, p, c) => {
  const s = str(v, p, c);
  if (s === undefined) return undefined;
  if (!parsePeerIP(s))
    return void c.error(p, `must be an IP address with an optional port ("10.0.0.1", "10.0.0.1:179", "[2001:db8::1]:179"), got ${describe(s)}`);
  return s;
};

const specSchema = object<BGPPeerSpec>({
  node: str,
  nodeSelector: selectorField,
  peerIP: peerIPField,
  asNumber,
  peerSelector: selectorField,
  localASNumber: asNumber,
  keepOriginalNextHop: bool,
  nextHopMode: oneOf(["Auto", "Self", "Keep"] as const),
  password: passwordField,
  sourceAddress: oneOf(["UseNodeIP", "None"] as const),
  failureDetectionMode: oneOf(["None", "BFDIfDirectlyConnected"] as const),
  restartMode: oneOf(["GracefulRestart", "LongLivedGracefulRestart"] as const),
  maxRestartTime: duration,
  keepaliveTime: duration,
  birdGatewayMode: oneOf(["Recursive", "DirectIfDirectlyConnected"] as const),
  numAllowedLocalASNumbers: int(0, 10),
  // GTSM hops; 0 = off. Calico allows 255, which would accept TTL 1 (any sender): refused
  ttlSecurity: int(0, 254),
  reachableBy: ipField(),
  filters: arrayOf(matching(DNS1123_SUBDOMAIN, "a BGPFilter name")),
  localWorkloadSelector: selectorField,
  reversePeering: oneOf(["Auto", "Manual"] as const),
});

export function checkBGPPeerSpec(v: unknown, c: Checker): BGPPeerSpec | undefined {
  const spec = specSchema(v, "spec", c);
  if (!spec) return undefined;
  if (spec.node && spec.nodeSelector) c.error("spec.node", "must be empty when nodeSelector is set");
  if (spec.peerIP && spec.peerSelector) c.error("spec.peerIP", "must be empty when peerSelector is set");
  if (spec.asNumber && spec.peerSelector) c.error("spec.asNumber", "must be empty when peerSelector is set (the peers' AS numbers come from their Nodes)");
  if (!spec.peerIP && !spec.peerSelector && !spec.localWorkloadSelector && c.errors.every((e) => e.path !== "spec.peerIP")) {
    c.error("spec.peerIP", "is required unless peerSelector or localWorkloadSelector is set");
  }
  if (spec.peerIP && spec.asNumber === undefined && !c.errors.some((e) => e.path === "spec.asNumber")) c.error("spec.asNumber", "is required with peerIP");
  if (spec.localWorkloadSelector) {
    if (!spec.asNumber) c.error("spec.asNumber", "is required when localWorkloadSelector is set");
    if (spec.peerIP) c.error("spec.peerIP", "must be empty when localWorkloadSelector is set");
    if (spec.peerSelector) c.error("spec.peerSelector", "must be empty when localWorkloadSelector is set");
  }
  if (spec.reachableBy) {
    const peer = spec.peerIP ? parsePeerIP(spec.peerIP) : undefined;
    const via = tryParseIP(spec.reachableBy);
    if (!spec.peerIP) c.error("spec.reachableBy", "must be empty when peerIP is empty");
    else if (peer && via && peer.ip.family !== via.family)
      c.error("spec.reachableBy", `must be of the same IP version as peerIP (${spec.peerIP}), got ${spec.reachableBy}`);
  }
  if (spec.keepOriginalNextHop && spec.nextHopMode !== undefined)
    c.error("spec.keepOriginalNextHop", "is deprecated and must not be true when nextHopMode is set");
  for (const [path, why] of unsupportedPeerFields(spec)) c.error(path, why);
  return spec;
}

/**
 * Fields Calico defines that tabby's agent cannot honour: refused with the reason, never
 * accepted and ignored (docs/resources.md lists every field).
 */
export function unsupportedPeerFields(spec: BGPPeerSpec): [string, string][] {
  const out: [string, string][] = [];
  if (spec.localASNumber !== undefined)
    out.push([
      "spec.localASNumber",
      "is not supported: tabby speaks one AS per node (Node spec.bgp.asNumber, else BGPConfiguration asNumber) on every session",
    ]);
  if (spec.restartMode === "LongLivedGracefulRestart")
    out.push(["spec.restartMode", "LongLivedGracefulRestart is not supported: tabby implements graceful restart (RFC 4724) only; use GracefulRestart"]);
  if (spec.birdGatewayMode === "DirectIfDirectlyConnected")
    out.push([
      "spec.birdGatewayMode",
      "DirectIfDirectlyConnected is not supported: tabby has no BIRD; it resolves next hops through the kernel's routes (Recursive)",
    ]);
  if (spec.localWorkloadSelector !== undefined) out.push(["spec.localWorkloadSelector", "is not supported: tabby does not peer with local workloads"]);
  return out;
}
