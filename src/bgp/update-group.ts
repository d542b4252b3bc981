/**
 * Update groups: the peers whose outbound treatment is identical (same export policy, negotiated
 * families, ADD-PATH send mode, 4-byte AS, iBGP/eBGP and reflector-client role, next-hop self
 * address) share one Adj-RIB-Out, one export computation per route and one set of encoded UPDATE
 * messages, as FRR's update groups and BIRD's shared export do (the idea only; this code is
 * tabby's own). What differs per member is kept as exceptions:
 *
 *  - split horizon (RFC 4271 §9.1.3 practice, RFC 4456 §8): a route is not sent back to the peer
 *    it came from, nor to the peer whose router id is its ORIGINATOR_ID (that peer would drop it).
 *    Every encoded message carries the members it skips; a member that had a route which becomes
 *    an exception for it gets its own small withdrawal.
 *  - "prefixes advertised" per member = the group's prefixes minus those it gets nothing of.
 *
 * A peer that joins gets the group's table as its dump (then End-of-RIB); a route refresh sends
 * the table again to that peer only. Pure: returns encoded messages, sends nothing.
 */
import { encodeAttributes, type CodecOptions } from "./wire/attributes.js";
import { RouteRefreshSubtype, SAFI, familyToAfi, type AddressFamily } from "./wire/constants.js";
import type { Nlri } from "./wire/nlri.js";
import { endOfRib } from "./wire/update.js";
import { encodeMessage } from "./wire/messages.js";
import type { OutRoute } from "./rib/export.js";
import { PrefixMap } from "./rib/prefix-map.js";
import { prefixFromKey, type Path, type PrefixKey } from "./rib/types.js";
import { ipv4Frames, packAnnouncements, packWithdrawals } from "./pack.js";

/** A route as the group sends it. One object per (attributes, source, family, term), shared. */
export interface ExportResult {
  out: OutRoute;
  /** outRouteKey(out): equal keys are equal bytes on the wire. */
  key: string;
  /** The peer the path came from (never sent back to it); undefined for local routes. */
  from: string | undefined;
  /** ORIGINATOR_ID as sent (never sent to the peer with that router id). */
  originatorId: string | undefined;
}

export interface GroupMember {
  /** The peer id (its address), as in PeerInfo.id. */
  readonly id: string;
  /** The peer's BGP identifier from its OPEN. */
  readonly routerId: string;
}

/** What the group's Loc-RIB changes mean on the wire. */
export interface Outgoing<M extends GroupMember> {
  /** Encoded messages, each for every member except `except`, in order. */
  shared: { bytes: Uint8Array; except: readonly M[] }[];
  /** Messages for one member only (exceptions that changed), sent after the shared ones. */
  own: Map<M, Uint8Array[]>;
}

/** The part of a Loc-RIB change (or entry) the group needs. */
export interface GroupChange {
  key: PrefixKey;
  family: AddressFamily;
  best: Path | undefined;
  multipath: Path[];
}

/** With ADD-PATH send: path ids and what went out under each. */
class Multi {
  constructor(
    readonly ids: number[],
    readonly rs: ExportResult[],
  ) {}
  get(id: number): ExportResult | undefined {
    const i = this.ids.indexOf(id);
    return i < 0 ? undefined : this.rs[i];
  }
}
/** Without ADD-PATH an entry is just the shared result (one pointer per prefix). */
type Entry = ExportResult | Multi;

const NONE: readonly never[] = Object.freeze([]);

/** Routes gathered for one message run: prefix keys and (ADD-PATH) path ids side by side. */
interface Run {
  keys: PrefixKey[];
  ids: number[];
}
interface AnnRun<M> extends Run {
  r: ExportResult;
  except: readonly M[];
}
interface WdRun<M> extends Run {
  except: readonly M[];
}
/** What one member alone gets (its exceptions changed). */
interface Own {
  wd: Run;
  ann: Map<string, AnnRun<never>>;
}

/** What one sync gathers for one family before encoding. */
interface Acc<M> {
  /** attribute key → exception key → run (two levels: no string concatenation per route) */
  ann: Map<string, Map<string, AnnRun<M>>>;
  wd: Map<string, WdRun<M>>;
  own: Map<M, Own>;
}

export class UpdateGroup<M extends GroupMember> {
  readonly members = new Set<M>();
  /** The group's Adj-RIB-Out: prefix → what the group sends (before member exceptions). */
  private readonly table = new PrefixMap<Entry>();
  /** member id → [member] (a one-element array, so exception lists need no allocation) */
  private readonly byId = new Map<string, readonly M[]>();
  private readonly byRouterId = new Map<string, M[]>();
  /** Per member and family: how many of the group's prefixes it gets nothing of. */
  private readonly hidden = new Map<M, Record<AddressFamily, number>>();
  /** Per family: the runs of the last dump and their encoded frames, by attribute key. */
  private readonly dumpCache = new Map<AddressFamily, Map<string, CachedRun>>();

  /**
   * @param exporter the route as this group sends it, or undefined when it is not sent
   * @param pathId the ADD-PATH identifier under which a path goes out
   */
  constructor(
    readonly key: string,
    readonly families: readonly AddressFamily[],
    readonly tx: CodecOptions,
    private readonly exporter: (p: Path) => ExportResult | undefined,
    private readonly pathId: (p: Path) => number,
  ) {}

  /** Prefixes in the group's table. */
  get size(): number {
    return this.table.size;
  }

  /** Prefixes this member has been sent (the group's table minus its exceptions). */
  advertised(m: M): number {
    const h = this.hidden.get(m);
    return h ? this.table.size - h.ipv4 - h.ipv6 : 0;
  }

  /** Adds a member; its view of the table is what `dump` then sends it. */
  join(m: M): void {
    if (this.members.has(m)) return;
    this.members.add(m);
    this.byId.set(m.id, [m]);
    const same = this.byRouterId.get(m.routerId);
    if (same) same.push(m);
    else this.byRouterId.set(m.routerId, [m]);
    this.hidden.set(m, { ipv4: 0, ipv6: 0 });
  }

  leave(m: M): void {
    if (!this.members.delete(m)) return;
    if (this.byId.get(m.id)?.[0] === m) this.byId.delete(m.id);
    const same = this.byRouterId.get(m.routerId)!.filter((x) => x !== m);
    if (same.length > 0) this.byRouterId.set(m.routerId, same);
    else this.byRouterId.delete(m.routerId);
    this.hidden.delete(m);
  }

  /**
   * The whole table for one family as this member sees it, then End-of-RIB (initial dump after
   * join, or a route refresh); with `enhanced` (RFC 7313 §4, a refresh to a peer that has the
   * capability) framed by BoRR and EoRR instead.
   */
  dump(m: M, family: AddressFamily, enhanced = false): Uint8Array[] {
    const h = this.hidden.get(m);
    if (!h || !this.families.includes(family)) return [];
    const runs = new Map<string, AnnRun<never>>();
    // consecutive prefixes mostly share one result (one UPDATE's worth): skip the Map then
    let lastR: ExportResult | undefined;
    let lastRun: AnnRun<never> | undefined;
    const add = (r: ExportResult, key: PrefixKey, id: number) => {
      let run = r === lastR ? lastRun : runs.get(r.key);
      if (!run) runs.set(r.key, (run = { r, except: NONE, keys: [], ids: [] }));
      lastR = r;
      lastRun = run;
      run.keys.push(key);
      run.ids.push(id);
    };
    let hidden = 0;
    const skipped: string[] = [];
    this.table.forEachOf(family === "ipv4" ? "ipv4" : "other", (entry, key) => {
      if (entry instanceof Multi) {
        let any = false;
        for (let i = 0; i < entry.rs.length; i++) {
          const r = entry.rs[i]!;
          if (this.excludes(r, m)) {
            skipped.push(r.key);
            continue;
          }
          any = true;
          add(r, key, entry.ids[i]!);
        }
        if (!any) hidden++;
      } else if (this.excludes(entry, m)) {
        hidden++;
        skipped.push(entry.key);
      } else add(entry, key, 0);
    });
    h[family] = hidden;
    const rr = (subtype: number) => encodeMessage({ type: "route-refresh", afi: familyToAfi(family), safi: SAFI.UNICAST, subtype }, this.tx);
    const out: Uint8Array[] = enhanced ? [rr(RouteRefreshSubtype.BORR)] : [];
    const attrs = new Map<string, Uint8Array>();
    // A burst of joiners (a reflector's clients after it starts) would each encode the whole table
    // again: a run whose prefixes are those of the last dump is sent as the same bytes. What this
    // member skipped (its own routes) is kept for the next member.
    const cache = this.dumpCache.get(family);
    const keepCache = this.table.size <= DUMP_CACHE_MAX;
    const next = new Map<string, CachedRun>();
    for (const run of runs.values()) {
      const c = cache?.get(run.r.key);
      const frames = c && sameRun(c, run) ? c.frames : this.frames(family, run.r, run, attrs);
      if (keepCache) next.set(run.r.key, c && frames === c.frames ? c : { keys: run.keys, ids: run.ids, frames });
      for (const f of frames) out.push(f);
    }
    if (keepCache && cache) for (const k of skipped) if (!next.has(k) && cache.has(k)) next.set(k, cache.get(k)!);
    this.dumpCache.set(family, next);
    out.push(enhanced ? rr(RouteRefreshSubtype.EORR) : encodeMessage(endOfRib(family), this.tx));
    return out;
  }

  /** Brings the table in line with Loc-RIB changes, and says what goes out to whom. */
  sync(changes: Iterable<GroupChange>): Outgoing<M> {
    const out: Outgoing<M> = { shared: [], own: new Map() };
    const accs = new Map<AddressFamily, Acc<M>>();
    for (const c of changes) {
      if (!this.families.includes(c.family)) continue;
      let acc = accs.get(c.family);
      if (!acc) accs.set(c.family, (acc = { ann: new Map(), wd: new Map(), own: new Map() }));
      this.syncPrefix(acc, c.family, c.key, c.best, c.multipath);
    }
    if (this.members.size === 0) return out;
    const attrs = new Map<string, Uint8Array>();
    const own = new Map<M, { wd: Uint8Array[]; ann: Uint8Array[] }>();
    for (const [family, acc] of accs) {
      // withdrawals first, then announcements (as each member would get them alone)
      for (const run of acc.wd.values()) for (const f of this.frames(family, undefined, run, attrs)) out.shared.push({ bytes: f, except: run.except });
      for (const byExcept of acc.ann.values())
        for (const run of byExcept.values()) for (const f of this.frames(family, run.r, run, attrs)) out.shared.push({ bytes: f, except: run.except });
      for (const [m, o] of acc.own) {
        let mine = own.get(m);
        if (!mine) own.set(m, (mine = { wd: [], ann: [] }));
        for (const f of this.frames(family, undefined, o.wd, attrs)) mine.wd.push(f);
        for (const run of o.ann.values()) for (const f of this.frames(family, run.r, run, attrs)) mine.ann.push(f);
      }
    }
    for (const [m, o] of own) out.own.set(m, [...o.wd, ...o.ann]);
    return out;
  }

  // ---- internals ----

  /** Encoded UPDATEs for one run: announcements of `r`, or withdrawals without it. */
  private frames(family: AddressFamily, r: ExportResult | undefined, run: Run, attrCache: Map<string, Uint8Array>): Uint8Array[] {
    if (run.keys.length === 0) return [];
    const addPath = this.tx.addPath[family];
    if (family === "ipv4") {
      let attrs: Uint8Array | undefined;
      if (r) {
        attrs = attrCache.get(r.key);
        if (!attrs) attrCache.set(r.key, (attrs = encodeAttributes({ ...r.out.attrs, nextHop: r.out.nextHop }, this.tx)));
      }
      return ipv4Frames(attrs, run.keys, addPath ? run.ids : undefined);
    }
    // other families through the general encoder (MP_REACH carries the NLRI inside an attribute)
    const nlri: Nlri[] = run.keys.map((k, i) => ({ prefix: prefixFromKey(k), pathId: run.ids[i]! }));
    const msgs = r
      ? packAnnouncements(
          family,
          nlri.map((n) => ({ ...n, out: r.out, key: r.key })),
          this.tx,
        )
      : packWithdrawals(family, nlri, this.tx);
    return msgs.map((u) => encodeMessage(u, this.tx));
  }

  private excluded(r: ExportResult): readonly M[] {
    const a = r.from !== undefined ? this.byId.get(r.from) : undefined;
    const b = r.originatorId !== undefined ? this.byRouterId.get(r.originatorId) : undefined;
    if (!b) return a ?? NONE;
    if (!a || b.includes(a[0]!)) return b;
    return [a[0]!, ...b];
  }

  private excludes(r: ExportResult, m: M): boolean {
    return r.from === m.id || (r.originatorId !== undefined && r.originatorId === m.routerId);
  }

  private visible(e: Entry | undefined, m: M): boolean {
    if (e === undefined) return false;
    if (e instanceof Multi) return e.rs.some((r) => !this.excludes(r, m));
    return !this.excludes(e, m);
  }

  private syncPrefix(acc: Acc<M>, family: AddressFamily, key: PrefixKey, best: Path | undefined, multipath: Path[]): void {
    const old = this.table.get(key);
    let next: Entry | undefined;
    if (!this.tx.addPath[family]) {
      const r = best ? this.exporter(best) : undefined;
      if (r === old) return;
      const o = old as ExportResult | undefined;
      if (r && o && r.key === o.key && r.from === o.from && r.originatorId === o.originatorId) {
        this.table.set(key, r); // the same bytes to the same members: nothing to send
        return;
      }
      next = r;
      this.item(acc, key, 0, o, r);
    } else {
      const ids: number[] = [];
      const rs: ExportResult[] = [];
      for (const p of multipath) {
        const r = this.exporter(p);
        if (!r) continue;
        ids.push(this.pathId(p));
        rs.push(r);
      }
      const o = old as Multi | undefined;
      next = ids.length > 0 ? new Multi(ids, rs) : undefined;
      for (let i = 0; i < ids.length; i++) this.item(acc, key, ids[i]!, o?.get(ids[i]!), rs[i]);
      if (o) for (let j = 0; j < o.ids.length; j++) if (!ids.includes(o.ids[j]!)) this.item(acc, key, o.ids[j]!, o.rs[j], undefined);
    }
    this.recount(family, old, next);
    if (next) this.table.set(key, next);
    else this.table.delete(key);
  }

  /** One (prefix, path id) going from `o` to `n`: into the shared runs or a member's own. */
  private item(acc: Acc<M>, key: PrefixKey, pathId: number, o: ExportResult | undefined, n: ExportResult | undefined): void {
    if (o === n || this.members.size === 0) return;
    if (n) {
      const en = this.excluded(n);
      if (o && o.key === n.key) {
        // the same bytes: only the members whose exception changed hear of it
        const eo = this.excluded(o);
        for (const m of eo) if (!en.includes(m)) push(ownAnnRun(ownOf(acc, m), n), key, pathId);
        for (const m of en) if (!eo.includes(m)) push(ownOf(acc, m).wd, key, pathId);
        return;
      }
      let byExcept = acc.ann.get(n.key);
      if (!byExcept) acc.ann.set(n.key, (byExcept = new Map()));
      const ek = exceptKey(en);
      let run = byExcept.get(ek);
      if (!run) byExcept.set(ek, (run = { r: n, except: en, keys: [], ids: [] }));
      push(run, key, pathId);
      if (o && en.length > 0) {
        // a member that had the old route but is an exception for the new one: withdraw it there
        const eo = this.excluded(o);
        for (const m of en) if (!eo.includes(m)) push(ownOf(acc, m).wd, key, pathId);
      }
    } else if (o) {
      const eo = this.excluded(o);
      const ek = exceptKey(eo);
      let run = acc.wd.get(ek);
      if (!run) acc.wd.set(ek, (run = { except: eo, keys: [], ids: [] }));
      push(run, key, pathId);
    }
  }

  /** Keeps the per-member count of hidden prefixes: only members named by an exception can change. */
  private recount(family: AddressFamily, old: Entry | undefined, next: Entry | undefined): void {
    if (!(old instanceof Multi) && !(next instanceof Multi)) {
      // the common case, without allocating: each side names at most a member or two
      const eo = old ? this.excluded(old) : NONE;
      const en = next ? this.excluded(next) : NONE;
      const h = family;
      for (const m of eo) this.hidden.get(m)![h] += (next !== undefined && !this.visible(next, m) ? 1 : 0) - 1;
      for (const m of en) if (!eo.includes(m)) this.hidden.get(m)![h] += 1 - (old !== undefined && !this.visible(old, m) ? 1 : 0);
      return;
    }
    let touched: readonly M[] = NONE;
    for (const e of [old, next]) {
      if (e === undefined) continue;
      for (const r of e instanceof Multi ? e.rs : [e]) {
        for (const m of this.excluded(r)) if (!touched.includes(m)) touched = [...touched, m];
      }
    }
    for (const m of touched) {
      const before = old !== undefined && !this.visible(old, m) ? 1 : 0;
      const after = next !== undefined && !this.visible(next, m) ? 1 : 0;
      this.hidden.get(m)![family] += after - before;
    }
  }
}

/** Dumps of tables up to this many prefixes keep their frames for the next joiner. */
const DUMP_CACHE_MAX = 250_000;

interface CachedRun {
  keys: PrefixKey[];
  ids: number[];
  frames: Uint8Array[];
}

/** The same prefixes and path ids in the same order (so the same bytes). */
function sameRun(c: CachedRun, run: Run): boolean {
  const n = run.keys.length;
  if (c.keys.length !== n) return false;
  for (let i = 0; i < n; i++) if (c.keys[i] !== run.keys[i] || c.ids[i] !== run.ids[i]) return false;
  return true;
}

function push(run: Run, key: PrefixKey, pathId: number): void {
  run.keys.push(key);
  run.ids.push(pathId);
}

function ownOf<M>(acc: Acc<M>, m: M): Own {
  let o = acc.own.get(m);
  if (!o) acc.own.set(m, (o = { wd: { keys: [], ids: [] }, ann: new Map() }));
  return o;
}

function ownAnnRun(o: Own, r: ExportResult): AnnRun<never> {
  let run = o.ann.get(r.key);
  if (!run) o.ann.set(r.key, (run = { r, except: NONE, keys: [], ids: [] }));
  return run;
}

function exceptKey(ms: readonly GroupMember[]): string {
  if (ms.length === 0) return "";
  if (ms.length === 1) return ms[0]!.id;
  return ms.map((m) => m.id).join(",");
}
