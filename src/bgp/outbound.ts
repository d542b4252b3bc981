/**
 * The speaker's outbound side: update groups (update-group.ts) and their membership. Sessions
 * with identical outbound treatment (export policy, families, encoding, iBGP/eBGP, reflector-client
 * role, next-hop-self address and mode) share one group: one Adj-RIB-Out and one encoding. Owns the
 * groups, which peer is in which, the export of a path per group (RFC 4271 §9.1.3 and the Adj-RIB-Out
 * rules of rib/export.ts, the export policy of policy.ts, RFC 4456 reflection) memoised per
 * attribute set, ADD-PATH identifiers we assign (RFC 7911), and the initial dump with End-of-RIB
 * (RFC 4724 §2) or within BoRR/EoRR (RFC 7313). No I/O: members' `send` is injected.
 */
import type { IP } from "../net/ip.js";
import { parseIP, tryParseIP } from "../net/ip.js";
import type { Negotiated } from "./negotiate.js";
import { outRouteKey } from "./pack.js";
import { ACCEPT_ALL, applySet, compilePolicy, evaluate, type CompiledPolicy } from "./policy.js";
import { exportRoute, type ExportTarget } from "./rib/export.js";
import type { LocalIdentity } from "./rib/import.js";
import type { Rib, RibChange, RibEntry } from "./rib/rib.js";
import type { Path, PeerInfo, PrefixKey, RouteAttrs } from "./rib/types.js";
import type { PeerConfig } from "./peer-config.js";
import type { LogFn } from "./speaker-types.js";
import { UpdateGroup, type ExportResult, type GroupChange, type GroupMember } from "./update-group.js";
import { FAMILIES, type AddressFamily } from "./wire/constants.js";

/** A peer's place in its update group while its session is up. */
interface Member extends GroupMember {
  send(frames: readonly Uint8Array[]): void;
}

/** An update group and what its members' export shares (see exportFor). */
interface GroupState {
  group: UpdateGroup<Member>;
  /** Unique per group ever made, so the export memo never serves an old group's result. */
  id: number;
  target: ExportTarget;
  exportPolicy: CompiledPolicy;
  /** The members' configured next-hop mode (true: self, false: keep), when they set one. */
  nextHopSelf?: boolean;
  /** The last export computed (see exportFor). */
  lastExport?: { attrs: RouteAttrs; source: PeerInfo | undefined; family: AddressFamily; term: number; result: ExportResult | undefined };
}

/** An Established session as the outbound side sees it when the peer joins. */
export interface OutboundSession {
  config: PeerConfig;
  info: PeerInfo;
  negotiated: Negotiated;
  ibgp: boolean;
  /** Our address on the connection. */
  localAddress: IP | undefined;
  /** Writes UPDATEs already encoded with the session's negotiated options. */
  send(frames: readonly Uint8Array[]): void;
}

export class Outbound<P extends object> {
  /** Update groups by key (see groupKey). */
  private readonly groups = new Map<string, GroupState>();
  private readonly membership = new Map<P, { g: GroupState; m: Member }>();
  private groupIds = 0;
  private exportMemo = new WeakMap<object, Map<string, ExportResult | null>>();
  /** ADD-PATH identifiers we assign to paths we send: source path → id. */
  private readonly outPathIds = new Map<string, number>();
  private nextOutPathId = 1;
  private readonly interned = new Map<string, string>();

  constructor(
    private readonly local: LocalIdentity,
    private readonly rib: Rib,
    private readonly log: LogFn,
  ) {}

  /** The update group of a peer (its id), while it is a member. */
  groupOf(peer: P): number | undefined {
    return this.membership.get(peer)?.g.id;
  }

  /** Prefixes advertised to a member (0 when not a member). */
  advertised(peer: P): number {
    const s = this.membership.get(peer);
    return s ? s.g.group.advertised(s.m) : 0;
  }

  get groupCount(): number {
    return this.groups.size;
  }

  /**
   * Session up: the peer joins (or makes) the update group of its treatment, and is sent the
   * group's table and End-of-RIB; `refresh`: the table between BoRR and EoRR instead (a policy
   * change, RFC 7313). The group's table must be current first (the caller pushes what is pending).
   */
  join(peer: P, s: OutboundSession, refresh = false): void {
    this.leave(peer);
    const n = s.negotiated;
    const self = selfNextHops(s);
    const key = groupKey(s, self);
    let g = this.groups.get(key);
    if (!g) {
      const id = ++this.groupIds;
      const gs: GroupState = {
        group: undefined as unknown as UpdateGroup<Member>,
        id,
        // the peer identity is the group's; per-peer split horizon is the group's exceptions
        target: {
          peer: { ...s.info, id: `group#${id}` },
          localAs: this.local.asNumber,
          routerId: this.local.routerId,
          clusterId: this.local.clusterId,
          selfNextHop: self,
        },
        exportPolicy: s.config.export === undefined ? ACCEPT_ALL : compilePolicy(s.config.export, s.info.ibgp),
        ...(s.config.nextHopSelf !== undefined ? { nextHopSelf: s.config.nextHopSelf } : {}),
      };
      gs.group = new UpdateGroup<Member>(
        key,
        [...n.families],
        n.tx,
        (p) => this.exportFor(gs, p),
        (p) => this.outPathId(p),
      );
      gs.group.sync(entryChanges(this.rib.all()));
      this.groups.set(key, gs);
      g = gs;
      this.log("debug", "update group created", { group: id, peer: s.config.address });
    }
    const m: Member = { id: s.info.id, routerId: n.peerRouterId, send: s.send };
    g.group.join(m);
    this.membership.set(peer, { g, m });
    for (const family of FAMILIES) this.dump(peer, family, refresh);
  }

  /** Session down (or re-established): the peer leaves its group; an empty group is dropped. */
  leave(peer: P): void {
    const s = this.membership.get(peer);
    if (!s) return;
    this.membership.delete(peer);
    s.g.group.leave(s.m);
    if (s.g.group.members.size === 0 && this.groups.get(s.g.group.key) === s.g) this.groups.delete(s.g.group.key);
  }

  /** The group's table for one family to one member, then End-of-RIB, or within BoRR/EoRR (RFC 7313). */
  dump(peer: P, family: AddressFamily, enhanced = false): void {
    const s = this.membership.get(peer);
    if (!s) return;
    const frames = s.g.group.dump(s.m, family, enhanced);
    if (frames.length > 0) s.m.send(frames);
  }

  /** Pushes Loc-RIB changes to every update group (once per group, not per peer). */
  sync(changes: Map<PrefixKey, RibChange>): void {
    for (const g of this.groups.values()) {
      const out = g.group.sync(changes.values());
      if (out.shared.length === 0 && out.own.size === 0) continue;
      for (const m of g.group.members) {
        const frames: Uint8Array[] = [];
        for (const s of out.shared) if (s.except.length === 0 || !s.except.includes(m)) frames.push(s.bytes);
        const own = out.own.get(m);
        if (own) for (const f of own) frames.push(f);
        if (frames.length > 0) m.send(frames);
      }
    }
  }

  /** One copy of each distinct attribute key, so export results (and FIB signatures) share strings. */
  intern(s: string): string {
    const have = this.interned.get(s);
    if (have !== undefined) return have;
    if (this.interned.size > 100_000) this.interned.clear();
    this.interned.set(s, s);
    return s;
  }

  /**
   * The route as this group sends it. Memoised per attribute object (paths of one UPDATE, or local
   * routes with equal attributes, share one), per source and per group, so a big table costs one
   * export computation per attribute set and group, not per prefix and peer.
   */
  private exportFor(g: GroupState, path: Path): ExportResult | undefined {
    // export policy: the term that matches is part of the memo key (its set actions shape the route)
    let term = -1;
    if (g.exportPolicy !== ACCEPT_ALL) {
      const t = evaluate(
        g.exportPolicy,
        path.prefix,
        path.attrs.communities,
        path.attrs.largeCommunities,
        !path.source ? "local" : path.source.ibgp ? "ibgp" : "ebgp",
      );
      if (t === undefined) return undefined;
      term = t;
    }
    // consecutive paths usually share attributes (one UPDATE's prefixes): skip the memo lookup
    const last = g.lastExport;
    if (last && last.attrs === path.attrs && last.source === path.source && last.family === path.family && last.term === term) return last.result;
    const result = this.exportMemoised(g, path, term);
    g.lastExport = { attrs: path.attrs, source: path.source, family: path.family, term, result };
    return result;
  }

  private exportMemoised(g: GroupState, path: Path, term: number): ExportResult | undefined {
    let memo = this.exportMemo.get(path.attrs);
    if (!memo) this.exportMemo.set(path.attrs, (memo = new Map()));
    const mk = `${path.source ? path.source.id : "local"}|${path.family}|${g.id}|${term}`;
    const hit = memo.get(mk);
    if (hit !== undefined) return hit ?? undefined;
    let out = exportRoute(path, g.target);
    // per-peer next-hop mode (Calico nextHopMode Self/Keep, part of the group key); a policy term's set.nextHop still wins
    const nhMode = g.nextHopSelf;
    if (out && nhMode !== undefined) {
      const nextHop = nhMode ? (g.target.selfNextHop[path.family] ?? out.nextHop) : (path.attrs.nextHop ?? out.nextHop);
      if (nextHop !== out.nextHop) out = { attrs: out.attrs, nextHop };
    }
    const t = term >= 0 ? g.exportPolicy.terms[term] : undefined;
    if (out && t?.set) {
      const attrs = applySet(out.attrs, t);
      if (!g.target.peer.ibgp) delete attrs.localPref; // LOCAL_PREF never goes to another AS
      let nextHop = out.nextHop;
      if (t.set.nextHop === "self") nextHop = g.target.selfNextHop[path.family] ?? nextHop;
      else if (t.set.nextHop === "keep" && path.attrs.nextHop) nextHop = path.attrs.nextHop;
      out = { attrs, nextHop };
    }
    const r: ExportResult | null = out
      ? { out, key: this.intern(outRouteKey(out, g.group.tx)), from: path.source?.id, originatorId: out.attrs.originatorId }
      : null;
    memo.set(mk, r);
    return r ?? undefined;
  }

  private outPathId(p: Path): number {
    const k = `${p.source ? p.source.id : "local"}#${p.pathId}`;
    let id = this.outPathIds.get(k);
    if (id === undefined) this.outPathIds.set(k, (id = this.nextOutPathId++));
    return id;
  }
}

/** Our next-hop-self address per family on a session: the connection's, or the configured ones. */
export function selfNextHops(s: Pick<OutboundSession, "config" | "localAddress">): Partial<Record<AddressFamily, IP>> {
  const out: Partial<Record<AddressFamily, IP>> = {};
  const la = s.localAddress;
  if (la?.family === 4) out.ipv4 = la;
  else if (s.config.localAddress && tryParseIP(s.config.localAddress)?.family === 4) out.ipv4 = parseIP(s.config.localAddress);
  if (s.config.localIPv6) out.ipv6 = parseIP(s.config.localIPv6);
  else if (la?.family === 6) out.ipv6 = la;
  return out;
}

/**
 * What makes two sessions' outbound treatment identical, so they share an update group: export
 * policy, negotiated families, ADD-PATH send mode and 4-byte AS (the encoding), iBGP/eBGP and
 * reflector-client role (export.ts), our next-hop-self address on the session, and the peer's
 * configured next-hop mode (nextHopSelf).
 */
export function groupKey(s: Pick<OutboundSession, "config" | "negotiated" | "ibgp">, self: Partial<Record<AddressFamily, IP>>): string {
  const n = s.negotiated;
  const exp = s.config.export === undefined ? null : s.config.export;
  return JSON.stringify([
    exp,
    [...n.families].sort(),
    n.tx.as4,
    n.tx.addPath.ipv4,
    n.tx.addPath.ipv6,
    s.ibgp,
    !!s.config.routeReflectorClient,
    self.ipv4?.toString() ?? "",
    self.ipv6?.toString() ?? "",
    s.config.nextHopSelf ?? null,
  ]);
}

/** Loc-RIB entries as changes from nothing (to fill a new group's table). */
function* entryChanges(entries: Iterable<RibEntry>): Generator<GroupChange> {
  for (const e of entries) yield { key: e.key, family: e.family, best: e.decision.best, multipath: e.decision.multipath };
}
