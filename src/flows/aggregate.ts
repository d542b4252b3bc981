/**
 * Flow logs as Calico aggregates them: per interval, one record per flow (5-tuple), verdict and
 * attribution (the policy, direction and rule that decided, parsed from the NFLOG prefix the nft
 * renderer writes: `F <A|D> <policy|end-of-tier T|no-policy-or-profile|no-profile-accepted>
 * <ingress|egress> <rule number|->`), with packets, bytes, first and last time. Time is a parameter.
 *
 * An allowed connection's NFLOG copy is its first packet only (established traffic is accepted
 * before the policy chains), so the aggregator remembers each allowed first packet's 5-tuple and
 * attribution, and conntrack's accounting counters of the entry with that original tuple (zone 0:
 * tabby sets no zones), from periodic dumps and destroy events (`count`), give the record the
 * connection's packets and bytes in both directions. Each interval gets what was counted in it
 * (the difference since the last count), as Calico's aggregation splits a long flow per interval.
 * Pure: no I/O.
 */
import type { LoggedPacket } from "./nflog.js";
import type { CtCounters, CtEntry } from "./ctnetlink.js";

export interface FlowRecord {
  /** The host whose agent saw it (filled by the reader). */
  host?: string;
  src: string;
  dst: string;
  protocol: "tcp" | "udp" | "icmp" | "icmpv6" | string;
  srcPort?: number;
  dstPort?: number;
  action: "allow" | "deny";
  /** The endpoint's direction the verdict was taken in: egress at the source, ingress at the destination. */
  direction: "ingress" | "egress";
  /** What decided: `gnp tier.name`, `np ns/name`, `pro/...`, or `end of tier T`, `no policy or profile`... */
  policy: string;
  /** The rule's index (1-based) in that policy, when a rule decided. */
  rule?: number;
  /** Packets and bytes from source to destination (for a denied flow: the dropped packets). */
  packets: number;
  bytes: number;
  /** Allowed flows: packets and bytes from destination back to source (conntrack's reply direction). */
  replyPackets?: number;
  replyBytes?: number;
  /**
   * Allowed flows: true once conntrack's accounting counted the connection (then packets and bytes
   * are the whole connection's in this interval); absent: only the first packet was seen.
   */
  conntrack?: true;
  start: string;
  end: string;
}

const PROTO: Record<number, string> = { 1: "icmp", 6: "tcp", 17: "udp", 58: "icmpv6", 132: "sctp" };

/** The attribution in an NFLOG prefix, or undefined when the prefix is not a flow-log prefix. */
export function parsePrefix(prefix: string): Pick<FlowRecord, "action" | "direction" | "policy" | "rule"> | undefined {
  const m = /^F ([AD]) (\S+)(?: (\S+))? (ingress|egress) (\S+)$/.exec(prefix.trim());
  if (!m) return undefined;
  const [, v, what, tier, dir, rule] = m;
  let policy: string;
  if (what === "end-of-tier") policy = `end of tier ${tier}`;
  else if (what === "no-policy-or-profile") policy = "no policy or profile";
  else if (what === "no-profile-accepted") policy = "no profile accepted";
  else policy = policyName(what!);
  const out: Pick<FlowRecord, "action" | "direction" | "policy" | "rule"> = {
    action: v === "A" ? "allow" : "deny",
    direction: dir as "ingress" | "egress",
    policy,
  };
  if (/^\d+$/.test(rule!)) out.rule = Number(rule);
  return out;
}

/** The calc graph's policy ids as a user writes them: `gnp/x` → `gnp x`, `np/ns/x` → `np ns/x`, `pro/p` → `profile p`. */
function policyName(id: string): string {
  const [kind, ...rest] = id.split("/");
  const name = rest.join("/");
  if (kind === "pro") return `profile ${name}`;
  if (kind === "gnp" || kind === "np") return `${kind} ${name}`;
  return id;
}

type Attribution = Pick<FlowRecord, "action" | "direction" | "policy" | "rule">;

/** An allowed connection being counted: its attributions and what each one's records hold already. */
interface Counted {
  tuple: Pick<FlowRecord, "src" | "dst" | "protocol" | "srcPort" | "dstPort">;
  /** attribution key → the attribution and the counters its records were given so far. */
  by: Map<string, { a: Attribution; orig: CtCounters; reply: CtCounters }>;
  /** The conntrack entry's id once a dump or event showed it. */
  ctId?: number;
  /** When its first packet was logged (ms). */
  since: number;
}

/** How many allowed connections are followed at most (the oldest are forgotten first). */
const MAX_COUNTED = 50_000;

/** The conntrack key of a 5-tuple: ICMP's id is not in the NFLOG copy's parse, so ICMP is by address. */
function tupleKey(t: { src: string; dst: string; protocol: number | string; srcPort?: number | undefined; dstPort?: number | undefined }): string {
  const proto = typeof t.protocol === "number" ? (PROTO[t.protocol] ?? String(t.protocol)) : t.protocol;
  return [proto, t.src, t.dst, t.srcPort ?? "", t.dstPort ?? ""].join("|");
}

export class FlowAggregator {
  private open = new Map<string, FlowRecord>();
  private done: FlowRecord[] = [];
  private intervalStart: number | undefined;
  private counted = new Map<string, Counted>();

  constructor(
    private intervalMs: number,
    private readonly keep = 5000,
  ) {}

  setInterval(ms: number): void {
    this.intervalMs = ms;
  }

  /** When the open interval closes (ms), once one has begun. */
  intervalEnd(): number | undefined {
    return this.intervalStart === undefined ? undefined : this.intervalStart + this.intervalMs;
  }

  /** How many allowed connections wait for conntrack counters. */
  followed(): number {
    return this.counted.size;
  }

  add(p: LoggedPacket, nowMs: number): void {
    const a = parsePrefix(p.prefix);
    if (!a) return;
    this.roll(nowMs);
    const rec = this.record(a, p, nowMs);
    rec.packets++;
    rec.bytes += p.length;
    if (a.action === "allow") {
      rec.replyPackets ??= 0;
      rec.replyBytes ??= 0;
      this.follow(a, p, nowMs);
    }
  }

  /** The open interval's record of a flow and attribution, made empty when there is none. */
  private record(a: Attribution, t: Counted["tuple"] | LoggedPacket, nowMs: number): FlowRecord {
    const protocol = typeof t.protocol === "number" ? (PROTO[t.protocol] ?? String(t.protocol)) : t.protocol;
    const key = [a.action, a.direction, a.policy, a.rule, t.src, t.dst, protocol, t.srcPort, t.dstPort].join("|");
    const at = new Date(nowMs).toISOString();
    const r = this.open.get(key);
    if (r) {
      r.end = at;
      return r;
    }
    const rec: FlowRecord = { src: t.src, dst: t.dst, protocol, ...a, packets: 0, bytes: 0, start: at, end: at };
    if (t.srcPort !== undefined) rec.srcPort = t.srcPort;
    if (t.dstPort !== undefined) rec.dstPort = t.dstPort;
    this.open.set(key, rec);
    return rec;
  }

  /** Remembers an allowed first packet, so conntrack's counters of its connection reach its record. */
  private follow(a: Attribution, p: LoggedPacket, nowMs: number): void {
    const key = tupleKey(p);
    let c = this.counted.get(key);
    // a first packet for a tuple conntrack already showed is a new connection on the same tuple
    if (c && c.ctId !== undefined) c = undefined;
    if (!c) {
      c = {
        tuple: {
          src: p.src,
          dst: p.dst,
          protocol: PROTO[p.protocol] ?? String(p.protocol),
          ...(p.srcPort !== undefined ? { srcPort: p.srcPort } : {}),
          ...(p.dstPort !== undefined ? { dstPort: p.dstPort } : {}),
        },
        by: new Map(),
        since: nowMs,
      };
      this.counted.delete(key);
      this.counted.set(key, c);
      if (this.counted.size > MAX_COUNTED) this.counted.delete(this.counted.keys().next().value!);
    }
    const ak = [a.action, a.direction, a.policy, a.rule].join("|");
    const b = c.by.get(ak);
    if (b) {
      b.orig.packets++;
      b.orig.bytes += p.length;
    } else c.by.set(ak, { a, orig: { packets: 1, bytes: p.length }, reply: { packets: 0, bytes: 0 } });
  }

  /**
   * Conntrack entries (a dump's or destroy events'): each one whose original tuple is a followed
   * allowed connection gives that connection's records what its counters grew by since the last
   * count, in the open interval (a record of this interval is made when the last one closed). A
   * destroyed entry is forgotten. `complete`: the entries are a whole dump, so followed connections
   * conntrack showed before and no longer has are over (their destroy event was lost), and those it
   * never showed within `staleMs` are given up. Does not roll the interval: a dump taken as an
   * interval ends is counted in the interval that ends.
   */
  count(entries: CtEntry[], nowMs: number, opts: { complete?: boolean; staleMs?: number } = {}): void {
    this.intervalStart ??= nowMs;
    const seen = new Set<string>();
    for (const e of entries) {
      if (e.zone !== 0) continue;
      const key = tupleKey(e);
      const c = this.counted.get(key);
      if (!c) continue;
      if (c.ctId !== undefined && c.ctId !== e.id) {
        // another connection on the same tuple without a first packet of its own: not ours
        continue;
      }
      c.ctId = e.id;
      seen.add(key);
      if (e.orig && e.reply) {
        for (const b of c.by.values()) {
          const dp = Math.max(0, e.orig.packets - b.orig.packets);
          const db = Math.max(0, e.orig.bytes - b.orig.bytes);
          const rp = Math.max(0, e.reply.packets - b.reply.packets);
          const rb = Math.max(0, e.reply.bytes - b.reply.bytes);
          if (dp || db || rp || rb) {
            const rec = this.record(b.a, c.tuple, nowMs);
            rec.packets += dp;
            rec.bytes += db;
            rec.replyPackets = (rec.replyPackets ?? 0) + rp;
            rec.replyBytes = (rec.replyBytes ?? 0) + rb;
            rec.conntrack = true;
          }
          b.orig = { packets: Math.max(b.orig.packets, e.orig.packets), bytes: Math.max(b.orig.bytes, e.orig.bytes) };
          b.reply = { packets: Math.max(b.reply.packets, e.reply.packets), bytes: Math.max(b.reply.bytes, e.reply.bytes) };
        }
      }
      if (e.destroyed) this.counted.delete(key);
    }
    if (opts.complete) {
      const stale = opts.staleMs ?? 60_000;
      for (const [key, c] of this.counted) {
        if (seen.has(key)) continue;
        if (c.ctId !== undefined || nowMs - c.since >= stale) this.counted.delete(key);
      }
    }
  }

  /** Closes the interval when it is over: its records join the flushed ones. */
  roll(nowMs: number): void {
    this.intervalStart ??= nowMs;
    if (nowMs - this.intervalStart < this.intervalMs) return;
    this.done.push(...this.open.values());
    if (this.done.length > this.keep) this.done.splice(0, this.done.length - this.keep);
    this.open = new Map();
    this.intervalStart = nowMs;
  }

  /** Flushed intervals' records, then the open interval's (marked open). */
  records(nowMs: number): (FlowRecord & { open?: boolean })[] {
    this.roll(nowMs);
    return [...this.done, ...[...this.open.values()].map((r) => ({ ...r, open: true }))];
  }
}
