/**
 * BGPPeer and BGPConfiguration as the agent reads them from the datastore: checked again with
 * the model's validators (a resource written by other tools may hold what `tabby apply` would
 * refuse), durations turned into seconds, selectors compiled. A resource that does not pass is
 * kept with its `problem` so the agent reports it (log and `node status`) instead of acting on
 * part of it: never accepted and ignored. Calico: libcalico-go BGPPeerSpec, BGPConfigurationSpec.
 * Pure: no I/O.
 */
import { Checker } from "../model/check.js";
import { checkBGPPeerSpec } from "../model/bgp-peer.js";
import { checkBGPConfigurationSpec, meshTtlSecurityProblem, MESH_TTL_SECURITY_ANNOTATION, type SecretKeyRef } from "../model/bgp-configuration.js";
import { parseSelector, type Selector } from "../selector/index.js";

export interface PeerInfo {
  name: string;
  /** Local side: a node name (`node`), a selector on Node labels (`nodeSelector`), or neither = every node. */
  node?: string;
  nodeSelector?: Selector;
  /** Remote side: an address (`peerIP`, with `asNumber`), or the tabby nodes `peerSelector` selects. */
  peerIP?: string;
  port?: number;
  asNumber?: number;
  peerSelector?: Selector;
  /** From `nextHopMode` (Self → true, Keep → false) or the older `keepOriginalNextHop: true` (→ false). */
  nextHopSelf?: boolean;
  /** UseNodeIP (default): bind the session to the node's address; None: the kernel chooses. */
  sourceAddress: "UseNodeIP" | "None";
  password?: SecretKeyRef;
  /** Seconds. */
  keepaliveTime?: number;
  /** `maxRestartTime`: the graceful restart time we advertise (seconds). */
  maxRestartTime?: number;
  /** `numAllowedLocalASNumbers`. */
  allowOwnAs?: number;
  /** GTSM hops; 0 = explicitly off (no default applies); absent = the default (bgp-peers.ts). */
  ttlSecurity?: number;
  /** `failureDetectionMode: BFDIfDirectlyConnected`: BFD (RFC 5880/5881) when the peer is on a connected network. */
  bfdIfDirectlyConnected?: boolean;
  filters?: string[];
  reachableBy?: string;
  /** Auto (default): the nodes a peerSelector selects peer back with the nodes this BGPPeer applies to. */
  reversePeering: "Auto" | "Manual";
  /** Why the agent refuses this BGPPeer, when it does. */
  problem?: string;
}

export interface BgpConfigInfo {
  name: string;
  asNumber?: number;
  meshEnabled?: boolean;
  listenPort?: number;
  bindMode?: "None" | "NodeIP";
  meshPassword?: SecretKeyRef;
  /** `nodeMeshMaxRestartTime` in seconds. */
  meshMaxRestartTime?: number;
  logSeverity?: string;
  /** Annotation `tabby.dev/mesh-ttl-security` (`default` only): "off" turns off the GTSM default between nodes. */
  meshTtlSecurity?: "on" | "off";
  /** Why the agent refuses this BGPConfiguration, when it does. */
  problem?: string;
}

/** Largest graceful restart time the capability carries (RFC 4724: 12 bits). */
const MAX_RESTART_TIME = 4095;

export function parseBgpPeer(name: string, spec: unknown): PeerInfo {
  const c = new Checker();
  const s = checkBGPPeerSpec(spec, c) ?? {};
  const peer: PeerInfo = { name, sourceAddress: s.sourceAddress ?? "UseNodeIP", reversePeering: s.reversePeering ?? "Auto" };
  const problems = c.errors.map((e) => `${e.path} ${e.message}`);
  if (s.node) peer.node = s.node;
  if (s.nodeSelector) peer.nodeSelector = parseSelector(s.nodeSelector);
  if (s.peerSelector) peer.peerSelector = parseSelector(s.peerSelector);
  if (s.peerIP) {
    const { address, port } = splitPeerIP(s.peerIP);
    peer.peerIP = address;
    if (port !== undefined) peer.port = port;
  }
  if (s.asNumber !== undefined) peer.asNumber = s.asNumber;
  if (s.nextHopMode === "Self") peer.nextHopSelf = true;
  else if (s.nextHopMode === "Keep" || s.keepOriginalNextHop === true) peer.nextHopSelf = false;
  if (s.password?.secretKeyRef) peer.password = s.password.secretKeyRef;
  const secs = (field: string, v: string | undefined, min: number, max: number): number | undefined => {
    if (v === undefined) return undefined;
    const n = durationSeconds(v);
    if (n === undefined || n < min || n > max) problems.push(`spec.${field} must be a duration from ${min}s to ${max}s, got ${JSON.stringify(v)}`);
    return n;
  };
  const ka = secs("keepaliveTime", s.keepaliveTime, 1, 21845);
  if (ka !== undefined) peer.keepaliveTime = ka;
  const rt = secs("maxRestartTime", s.maxRestartTime, 0, MAX_RESTART_TIME);
  if (rt !== undefined) peer.maxRestartTime = rt;
  if (s.numAllowedLocalASNumbers) peer.allowOwnAs = s.numAllowedLocalASNumbers;
  if (s.ttlSecurity !== undefined) peer.ttlSecurity = s.ttlSecurity;
  if (s.failureDetectionMode === "BFDIfDirectlyConnected") peer.bfdIfDirectlyConnected = true;
  if (s.filters?.length) peer.filters = s.filters;
  if (s.reachableBy) peer.reachableBy = s.reachableBy;
  if (problems.length > 0) peer.problem = problems.join("; ");
  return peer;
}

export function parseBgpConfiguration(name: string, spec: unknown, annotations?: Record<string, unknown>): BgpConfigInfo {
  const c = new Checker();
  const s = checkBGPConfigurationSpec(spec, c, name) ?? {};
  const conf: BgpConfigInfo = { name };
  const problems = c.errors.map((e) => `${e.path} ${e.message}`);
  const ttlProblem = meshTtlSecurityProblem(name, annotations);
  // a value tabby cannot honour is reported and leaves GTSM on (never silently off)
  if (ttlProblem) problems.push(`metadata.annotations["${MESH_TTL_SECURITY_ANNOTATION}"] ${ttlProblem}`);
  else if (annotations?.[MESH_TTL_SECURITY_ANNOTATION] !== undefined) conf.meshTtlSecurity = annotations[MESH_TTL_SECURITY_ANNOTATION] as "on" | "off";
  if (s.asNumber !== undefined) conf.asNumber = s.asNumber;
  if (s.nodeToNodeMeshEnabled !== undefined) conf.meshEnabled = s.nodeToNodeMeshEnabled;
  if (s.listenPort !== undefined) conf.listenPort = s.listenPort;
  if (s.bindMode !== undefined) conf.bindMode = s.bindMode;
  if (s.nodeMeshPassword?.secretKeyRef) conf.meshPassword = s.nodeMeshPassword.secretKeyRef;
  if (s.logSeverityScreen !== undefined) conf.logSeverity = s.logSeverityScreen;
  if (s.nodeMeshMaxRestartTime !== undefined) {
    const n = durationSeconds(s.nodeMeshMaxRestartTime);
    if (n === undefined || n > MAX_RESTART_TIME)
      problems.push(`spec.nodeMeshMaxRestartTime must be a duration of at most ${MAX_RESTART_TIME}s, got ${JSON.stringify(s.nodeMeshMaxRestartTime)}`);
    else conf.meshMaxRestartTime = n;
  }
  if (problems.length > 0) conf.problem = problems.join("; ");
  return conf;
}

/** A Go duration ("90s", "1m30s", "500ms", "0") in whole seconds (rounded), or undefined. */
export function durationSeconds(text: string): number | undefined {
  if (text === "0") return 0;
  const unit: Record<string, number> = { ns: 1e-9, us: 1e-6, µs: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|h|m|s)/gy;
  let total = 0;
  let pos = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    total += Number(m[1]) * unit[m[2]!]!;
    pos = re.lastIndex;
  }
  if (pos === 0 || pos !== text.length) return undefined;
  return Math.round(total);
}

/** Calico's `peerIP` is "ip", "ip:port", or "[ipv6]:port". */
export function splitPeerIP(peerIP: string): { address: string; port?: number } {
  const bracket = /^\[([^\]]+)\]:(\d+)$/.exec(peerIP);
  if (bracket) return { address: bracket[1]!, port: Number(bracket[2]) };
  const v4port = /^(\d+\.\d+\.\d+\.\d+):(\d+)$/.exec(peerIP);
  if (v4port) return { address: v4port[1]!, port: Number(v4port[2]) };
  return { address: peerIP };
}
