/**
 * Flow logs as Calico aggregates them: per interval, one record per flow (5-tuple), verdict and
 * attribution (the policy, direction and rule that decided, parsed from the NFLOG prefix the nft
 * renderer writes: `F <A|D> <policy|end-of-tier T|no-policy-or-profile|no-profile-accepted>
 * <ingress|egress> <rule number|->`), with packets, bytes, first and last time. Time is a parameter.
 * Pure: no I/O.
 */
import type { LoggedPacket } from "./nflog.js";

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
  packets: number;
  bytes: number;
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
  const out: Pick<FlowRecord, "action" | "direction" | "policy" | "rule"> = { action: v === "A" ? "allow" : "deny", direction: dir as "ingress" | "egress", policy };
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

export class FlowAggregator {
  private open = new Map<string, FlowRecord>();
  private done: FlowRecord[] = [];
  private intervalStart: number | undefined;

  constructor(private intervalMs: number, private readonly keep = 5000) {}

  setInterval(ms: number): void {
    this.intervalMs = ms;
  }

  add(p: LoggedPacket, nowMs: number): void {
    const a = parsePrefix(p.prefix);
    if (!a) return;
    this.roll(nowMs);
    const key = [a.action, a.direction, a.policy, a.rule, p.src, p.dst, p.protocol, p.srcPort, p.dstPort].join("|");
    const at = new Date(nowMs).toISOString();
    const r = this.open.get(key);
    if (r) {
      r.packets++;
      r.bytes += p.length;
      r.end = at;
      return;
    }
    const rec: FlowRecord = { src: p.src, dst: p.dst, protocol: PROTO[p.protocol] ?? String(p.protocol), ...a, packets: 1, bytes: p.length, start: at, end: at };
    if (p.srcPort !== undefined) rec.srcPort = p.srcPort;
    if (p.dstPort !== undefined) rec.dstPort = p.dstPort;
    this.open.set(key, rec);
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
