/**
 * The event sequencer at the end of the policy graph (felix `calc/event_sequencer.go`): it takes
 * the graph's changes as they happen, coalesces them per object between flushes (a set created
 * and deleted in between is never sent; a member added then removed is never sent; only the last
 * update of a policy or endpoint is sent, and only when it differs from what was sent), and
 * flushes them in dependency order:
 *
 *   config → control plane → IP set creations (full members) → IP set deltas → policy updates → endpoint updates
 *   → endpoint removals → policy removals → IP set removals → in-sync
 *
 * so that the dataplane always has the sets a policy uses before the policy, and the policies an
 * endpoint uses before the endpoint; removals run the other way. Nothing is released before the
 * datastore snapshot is complete (`inSync()`), as felix never programs before InSync: flush()
 * returns [] until then and the first flush after it carries the whole snapshot and `in-sync`.
 * Pure: no I/O.
 */
import type {
  CompiledRule,
  ConfigUpdate,
  ControlPlaneUpdate,
  HostEndpointUpdate,
  IpSetMember,
  PolicyDataplaneEvent,
  WorkloadEndpointUpdate,
} from "../policy-output.js";
import { addTo } from "./multimap.js";

export type IpSetType = "net" | "ip-port";

/** What the graph's stages tell the sequencer. Members are strings: "cidr" or "addr,proto:port". */
export interface DataplaneSink {
  /**
   * A new set; `members` reads its current members (the caller's live view). Until the next
   * flush the sequencer reads them from there, once, rather than recording each member added
   * or removed meanwhile: most members of a new set (all of them in the initial sync) arrive
   * before it is first sent.
   */
  ipSetAdded(id: string, type: IpSetType, members: () => Iterable<string>): void;
  ipSetMemberAdded(id: string, member: string): void;
  /**
   * A set re-created with known members (the strings in insertion order, and the same decoded):
   * what ipSetAdded then ipSetMemberAdded for each would do, without the per-member work. The
   * arrays are shared: neither side changes them.
   */
  ipSetRestored(id: string, type: IpSetType, members: readonly string[], decoded: readonly IpSetMember[]): void;
  ipSetMemberRemoved(id: string, member: string): void;
  ipSetRemoved(id: string): void;
  policyUpdated(id: string, ingress: CompiledRule[], egress: CompiledRule[]): void;
  policyRemoved(id: string): void;
  workloadEndpointUpdated(u: WorkloadEndpointUpdate): void;
  workloadEndpointRemoved(id: string, iface: string): void;
  hostEndpointUpdated(u: HostEndpointUpdate): void;
  hostEndpointRemoved(id: string): void;
  configUpdated(c: ConfigUpdate): void;
  controlPlaneUpdated(c: ControlPlaneUpdate): void;
}

/** "10.0.0.1,tcp:80" → {addr, protocol, port}; "10.0.0.0/24" stays a string. */
export function decodeMember(m: string): IpSetMember {
  const comma = m.indexOf(",");
  if (comma === -1) return m;
  const colon = m.lastIndexOf(":");
  return { addr: m.slice(0, comma), protocol: m.slice(comma + 1, colon) as "tcp" | "udp" | "sctp", port: Number(m.slice(colon + 1)) };
}

/** A set created since the last flush: its live members, its members, or the snapshot it was restored with. */
interface NewSet {
  type: IpSetType;
  live: (() => Iterable<string>) | undefined;
  members: Set<string> | undefined;
  restored: { members: readonly string[]; decoded: readonly IpSetMember[] } | undefined;
}

export class EventSequencer implements DataplaneSink {
  private config: ConfigUpdate | undefined;
  private sentConfig = "";
  private controlPlane: ControlPlaneUpdate | undefined;
  private sentControlPlane = "";
  private readonly sentSets = new Set<string>();
  private readonly newSets = new Map<string, NewSet>();
  private readonly addedMembers = new Map<string, Set<string>>();
  private readonly removedMembers = new Map<string, Set<string>>();
  private readonly removedSets = new Set<string>();
  private readonly sentPolicies = new Map<string, string>();
  private readonly pendingPolicies = new Map<string, { ingress: CompiledRule[]; egress: CompiledRule[] }>();
  private readonly removedPolicies = new Set<string>();
  private readonly sentEndpoints = new Map<string, string>();
  private readonly pendingEndpoints = new Map<string, WorkloadEndpointUpdate | HostEndpointUpdate>();
  private readonly removedEndpoints = new Map<string, PolicyDataplaneEvent>();
  private inSyncRequested = false;
  private inSyncSent = false;

  ipSetAdded(id: string, type: IpSetType, members: () => Iterable<string>): void {
    this.removedSets.delete(id);
    this.addedMembers.delete(id);
    this.removedMembers.delete(id);
    this.newSets.set(id, { type, live: members, members: undefined, restored: undefined });
  }

  ipSetRestored(id: string, type: IpSetType, members: readonly string[], decoded: readonly IpSetMember[]): void {
    this.removedSets.delete(id);
    this.addedMembers.delete(id);
    this.removedMembers.delete(id);
    this.newSets.set(id, { type, live: undefined, members: undefined, restored: { members, decoded } });
  }

  /** A new set's members as a mutable Set (materialising a restored snapshot on first change). */
  private newMembers(ns: NewSet): Set<string> {
    if (!ns.members) {
      ns.members = new Set(ns.restored!.members);
      ns.restored = undefined;
    }
    return ns.members;
  }

  ipSetMemberAdded(id: string, member: string): void {
    const ns = this.newSets.get(id);
    if (ns) {
      if (!ns.live) this.newMembers(ns).add(member);
    } else if (!this.removedMembers.get(id)?.delete(member)) addTo(this.addedMembers, id, member);
  }

  ipSetMemberRemoved(id: string, member: string): void {
    const ns = this.newSets.get(id);
    if (ns) {
      if (!ns.live) this.newMembers(ns).delete(member);
    } else if (!this.addedMembers.get(id)?.delete(member)) addTo(this.removedMembers, id, member);
  }

  ipSetRemoved(id: string): void {
    this.newSets.delete(id);
    this.addedMembers.delete(id);
    this.removedMembers.delete(id);
    if (this.sentSets.has(id)) this.removedSets.add(id);
  }

  policyUpdated(id: string, ingress: CompiledRule[], egress: CompiledRule[]): void {
    this.removedPolicies.delete(id);
    this.pendingPolicies.set(id, { ingress, egress });
  }

  policyRemoved(id: string): void {
    this.pendingPolicies.delete(id);
    if (this.sentPolicies.has(id)) this.removedPolicies.add(id);
  }

  workloadEndpointUpdated(u: WorkloadEndpointUpdate): void {
    this.removedEndpoints.delete(`w${u.id}`);
    this.pendingEndpoints.set(`w${u.id}`, u);
  }

  workloadEndpointRemoved(id: string, iface: string): void {
    this.pendingEndpoints.delete(`w${id}`);
    if (this.sentEndpoints.has(`w${id}`)) this.removedEndpoints.set(`w${id}`, { kind: "workload-endpoint-remove", id, iface });
  }

  hostEndpointUpdated(u: HostEndpointUpdate): void {
    this.removedEndpoints.delete(`h${u.id}`);
    this.pendingEndpoints.set(`h${u.id}`, u);
  }

  hostEndpointRemoved(id: string): void {
    this.pendingEndpoints.delete(`h${id}`);
    if (this.sentEndpoints.has(`h${id}`)) this.removedEndpoints.set(`h${id}`, { kind: "host-endpoint-remove", id });
  }

  configUpdated(c: ConfigUpdate): void {
    this.config = c;
  }

  controlPlaneUpdated(c: ControlPlaneUpdate): void {
    this.controlPlane = c;
  }

  /** The datastore snapshot is complete: the next flush releases everything, then `in-sync`. */
  inSync(): void {
    this.inSyncRequested = true;
  }

  flush(): PolicyDataplaneEvent[] {
    if (!this.inSyncRequested) return [];
    if (
      this.inSyncSent &&
      !this.config &&
      !this.controlPlane &&
      this.newSets.size === 0 &&
      this.addedMembers.size === 0 &&
      this.removedMembers.size === 0 &&
      this.removedSets.size === 0 &&
      this.pendingPolicies.size === 0 &&
      this.removedPolicies.size === 0 &&
      this.pendingEndpoints.size === 0 &&
      this.removedEndpoints.size === 0
    ) {
      return [];
    }
    const out: PolicyDataplaneEvent[] = [];
    if (this.config) {
      const s = JSON.stringify(this.config);
      if (s !== this.sentConfig) {
        out.push(this.config);
        this.sentConfig = s;
      }
      this.config = undefined;
    }
    if (this.controlPlane) {
      const s = JSON.stringify(this.controlPlane);
      if (s !== this.sentControlPlane) {
        out.push(this.controlPlane);
        this.sentControlPlane = s;
      }
      this.controlPlane = undefined;
    }
    for (const [id, { type, live, members, restored }] of this.newSets) {
      const decoded = live ? Array.from(live(), decodeMember) : members ? [...members].map(decodeMember) : restored!.decoded.slice();
      out.push({ kind: "ipset-update", id, type, members: decoded });
      this.sentSets.add(id);
    }
    this.newSets.clear();
    for (const id of this.addedMembers.keys()) this.emitDelta(id, out);
    for (const id of this.removedMembers.keys()) if (!this.addedMembers.has(id)) this.emitDelta(id, out);
    this.addedMembers.clear();
    this.removedMembers.clear();
    this.flushRest(out);
    return out;
  }

  private emitDelta(id: string, out: PolicyDataplaneEvent[]): void {
    {
      const added = [...(this.addedMembers.get(id) ?? [])].map(decodeMember);
      const removed = [...(this.removedMembers.get(id) ?? [])].map(decodeMember);
      if (added.length || removed.length) out.push({ kind: "ipset-delta", id, added, removed });
    }
  }

  private flushRest(out: PolicyDataplaneEvent[]): void {
    for (const [id, p] of this.pendingPolicies) {
      const s = JSON.stringify(p);
      if (this.sentPolicies.get(id) === s) continue;
      this.sentPolicies.set(id, s);
      out.push({ kind: "policy-update", id, ingress: p.ingress, egress: p.egress });
    }
    this.pendingPolicies.clear();
    for (const [key, u] of this.pendingEndpoints) {
      const s = JSON.stringify(u);
      if (this.sentEndpoints.get(key) === s) continue;
      this.sentEndpoints.set(key, s);
      out.push(u);
    }
    this.pendingEndpoints.clear();
    for (const [key, r] of this.removedEndpoints) {
      this.sentEndpoints.delete(key);
      out.push(r);
    }
    this.removedEndpoints.clear();
    for (const id of this.removedPolicies) {
      this.sentPolicies.delete(id);
      out.push({ kind: "policy-remove", id });
    }
    this.removedPolicies.clear();
    for (const id of this.removedSets) {
      this.sentSets.delete(id);
      out.push({ kind: "ipset-remove", id });
    }
    this.removedSets.clear();
    if (!this.inSyncSent) {
      out.push({ kind: "in-sync" });
      this.inSyncSent = true;
    }
  }
}
