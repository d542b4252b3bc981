/**
 * The desired policy state of one host: the fold of the PolicyDataplaneEvents the calculation
 * graph emits (src/calc/policy-output.ts), as felix's int_dataplane managers keep it
 * (calico-spec §1.3): IP sets with their members, policies and profiles, local workload
 * endpoints, host endpoints, config, the control-plane isolation, and whether the initial snapshot is complete (in-sync).
 * Pure: no I/O. Tolerates spurious removals and repeated updates (state only, no history).
 */
import { TabbyError } from "../../errors.js";
import { tryParsePrefix } from "../../net/prefix.js";
import { DEFAULT_CONTROL_PLANE } from "../../calc/policy-output.js";
import type {
  ConfigUpdate,
  ControlPlaneUpdate,
  HostEndpointUpdate,
  IpSetMember,
  PolicyDataplaneEvent,
  PolicyUpdate,
  WorkloadEndpointUpdate,
} from "../../calc/policy-output.js";

const PROTO_NUM = { tcp: 6, udp: 17, sctp: 132 } as const;

export interface IpSetState {
  type: "net" | "ip-port";
  /** Members by canonical key (see memberKey). */
  members: Map<string, CanonicalMember>;
  /** Bumped on every change of members (lets the renderer cache per set). */
  version: number;
}

export type CanonicalMember =
  | { kind: "net"; family: 4 | 6; cidr: string; len: number }
  | { kind: "ip-port"; family: 4 | 6; addr: string; proto: number; port: number };

export interface DesiredState {
  ipsets: Map<string, IpSetState>;
  policies: Map<string, PolicyUpdate>;
  /** Workload endpoints by id. */
  workloads: Map<string, WorkloadEndpointUpdate>;
  hosts: Map<string, HostEndpointUpdate>;
  config: ConfigUpdate;
  /** Workload → control-plane isolation (enforced with its defaults before any event). */
  controlPlane: ControlPlaneUpdate;
  inSync: boolean;
}

export const DEFAULT_CONFIG: ConfigUpdate = {
  kind: "config-update",
  failsafeInbound: [],
  failsafeOutbound: [],
  defaultEndpointToHostAction: "drop",
  logRateLimitPerSecond: 0,
  logPrefix: "tabby-packet",
};

export function emptyState(): DesiredState {
  return {
    ipsets: new Map(),
    policies: new Map(),
    workloads: new Map(),
    hosts: new Map(),
    config: DEFAULT_CONFIG,
    controlPlane: DEFAULT_CONTROL_PLANE,
    inSync: false,
  };
}

/** A member in canonical form (network address, RFC 5952 text); throws DP_NFT_BAD_MEMBER. */
export function canonicalMember(m: IpSetMember): CanonicalMember {
  const addr = typeof m === "string" ? m : m.addr;
  const p = tryParsePrefix(addr);
  if (!p) throw new TabbyError("DP_NFT_BAD_MEMBER", `not an address or CIDR: ${JSON.stringify(addr)}`, { member: m });
  if (typeof m === "string") {
    const n = p.network();
    return { kind: "net", family: p.family, cidr: n.addr.toString(), len: n.len };
  }
  if (p.len !== p.maxLen) throw new TabbyError("DP_NFT_BAD_MEMBER", `named-port member must be one address: ${addr}`, { member: m });
  const proto = PROTO_NUM[m.protocol];
  if (!proto || !Number.isInteger(m.port) || m.port < 0 || m.port > 65535) {
    throw new TabbyError("DP_NFT_BAD_MEMBER", `bad named-port member ${JSON.stringify(m)}`, { member: m });
  }
  return { kind: "ip-port", family: p.family, addr: p.addr.toString(), proto, port: m.port };
}

export function memberKey(c: CanonicalMember): string {
  return c.kind === "net" ? `${c.cidr}/${c.len}` : `${c.addr} . ${c.proto} . ${c.port}`;
}

function setMembers(list: IpSetMember[]): Map<string, CanonicalMember> {
  const out = new Map<string, CanonicalMember>();
  for (const m of list) {
    const c = canonicalMember(m);
    out.set(memberKey(c), c);
  }
  return out;
}

/** Folds events into `state` (mutated in place, returned for chaining). */
export function applyEvents(state: DesiredState, events: readonly PolicyDataplaneEvent[]): DesiredState {
  for (const ev of events) {
    switch (ev.kind) {
      case "ipset-update":
        state.ipsets.set(ev.id, { type: ev.type, members: setMembers(ev.members), version: 0 });
        break;
      case "ipset-delta": {
        const s = state.ipsets.get(ev.id);
        if (!s) throw new TabbyError("DP_NFT_UNKNOWN_SET", `delta for unknown IP set ${ev.id}`, { id: ev.id });
        s.version++;
        for (const m of ev.removed) s.members.delete(memberKey(canonicalMember(m)));
        for (const m of ev.added) {
          const c = canonicalMember(m);
          s.members.set(memberKey(c), c);
        }
        break;
      }
      case "ipset-remove":
        state.ipsets.delete(ev.id);
        break;
      case "policy-update":
        state.policies.set(ev.id, ev);
        break;
      case "policy-remove":
        state.policies.delete(ev.id);
        break;
      case "workload-endpoint-update":
        // One endpoint per interface: an update that moves an interface replaces the old owner.
        for (const [id, w] of state.workloads) if (w.iface === ev.iface && id !== ev.id) state.workloads.delete(id);
        state.workloads.set(ev.id, ev);
        break;
      case "workload-endpoint-remove":
        state.workloads.delete(ev.id);
        break;
      case "host-endpoint-update":
        state.hosts.set(ev.id, ev);
        break;
      case "host-endpoint-remove":
        state.hosts.delete(ev.id);
        break;
      case "config-update":
        state.config = ev;
        break;
      case "control-plane-update":
        state.controlPlane = ev;
        break;
      case "in-sync":
        state.inSync = true;
        break;
    }
  }
  return state;
}
