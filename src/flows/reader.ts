/**
 * The agent's flow-log reader: a NETLINK_NETFILTER socket bound to the NFLOG group the nft
 * renderer's flow-log verdicts copy packets to (FLOW_LOG_GROUP), read without blocking every
 * `pollMs` through libc (src/dataplane/libc.ts: Node has no AF_NETLINK), and the aggregator that
 * turns the packets into flow records. The socket belongs to the agent's network namespace, the
 * host's. While flow logs are on (`setCounting(true)`), conntrack's counters (conntrack.ts) give
 * allowed connections their whole traffic: destroy events every poll, a dump of the table every
 * `dumpMs` and as each interval ends. Shell (I/O); the bytes are nflog.ts's and ctnetlink.ts's, the
 * records aggregate.ts's.
 */
import { loadLibc, type Libc } from "../dataplane/libc.js";
import { TabbyError } from "../errors.js";
import { bindGroupMessage, decodeNflog } from "./nflog.js";
import { FlowAggregator, type FlowRecord } from "./aggregate.js";
import { ConntrackReader } from "./conntrack.js";

const AF_NETLINK = 16;
const SOCK_RAW = 3;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const NETLINK_NETFILTER = 12;

/** Calico's default flowLogsFlushInterval. */
export const DEFAULT_FLUSH_MS = 300_000;

/** How often the conntrack table is dumped for long-lived connections' counters (at most). */
export const CONNTRACK_DUMP_MS = 10_000;

export class FlowLogReader {
  private fd = -1;
  private timer: NodeJS.Timeout | undefined;
  private readonly buf = Buffer.alloc(65536);
  readonly aggregator: FlowAggregator;
  private c: Libc | undefined;
  /** The last error reading the socket, for `tabby flows` to show. */
  lastError: string | undefined;
  readonly conntrack: ConntrackReader;
  private lastDump = -Infinity;

  constructor(
    private readonly group: number,
    private readonly now: () => number = Date.now,
    flushMs = DEFAULT_FLUSH_MS,
    private readonly pollMs = 200,
    conntrack = new ConntrackReader(),
  ) {
    this.aggregator = new FlowAggregator(flushMs);
    this.conntrack = conntrack;
  }

  /** Conntrack counting on (flow logs on: accounting, events, dumps) or off (sockets closed, sysctl put back). */
  async setCounting(on: boolean): Promise<void> {
    if (!on) return this.conntrack.stop();
    if (this.conntrack.running) return;
    try {
      await this.conntrack.start();
    } catch (e) {
      this.lastError = `allowed flows count their first packet only: ${e instanceof Error ? e.message : String(e)}`;
      throw e;
    }
  }

  /**
   * Conntrack into the aggregator. Before the NFLOG packets (`boundary`): a dump when the interval
   * has ended, so what was counted up to its end lands in it before anything rolls it. After them
   * (so an allowed connection's first packet is known before its counters): destroy events, and
   * a dump every CONNTRACK_DUMP_MS.
   */
  private countConntrack(phase: "boundary" | "after"): void {
    if (!this.conntrack.running) return;
    try {
      const at = this.now();
      const end = this.aggregator.intervalEnd();
      if (phase === "after") {
        const ended = this.conntrack.drainEvents();
        if (ended.length) this.aggregator.count(ended, at);
      }
      const due = phase === "boundary" ? end !== undefined && at >= end && this.lastDump < end : at - this.lastDump >= CONNTRACK_DUMP_MS;
      if (due) {
        const all = this.conntrack.readDump();
        if (all) {
          this.aggregator.count(all, at, { complete: true, staleMs: 3 * CONNTRACK_DUMP_MS });
          this.lastDump = at;
        }
      }
    } catch (e) {
      this.lastError = e instanceof Error ? e.message : String(e);
    }
  }

  async start(): Promise<void> {
    const c = (this.c = await loadLibc());
    const fd = c.socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_NETFILTER);
    if (fd < 0) throw new TabbyError("AGENT_NFLOG_FAILED", `socket(AF_NETLINK, NETLINK_NETFILTER): errno ${c.errno()}`);
    this.fd = fd;
    const msg = bindGroupMessage(this.group, 1);
    if (c.send(fd, msg, msg.length, 0) < 0) {
      const e = c.errno();
      this.stop();
      throw new TabbyError("AGENT_NFLOG_FAILED", `binding NFLOG group ${this.group}: errno ${e}`);
    }
    this.timer = setInterval(() => this.drain(), this.pollMs);
    this.timer.unref();
  }

  private drain(): void {
    this.countConntrack("boundary");
    this.drainNflog();
    this.countConntrack("after");
  }

  private drainNflog(): void {
    if (this.fd < 0 || !this.c) return;
    for (let i = 0; i < 1000; i++) {
      const n = Number(this.c.recv(this.fd, this.buf, this.buf.length, 0));
      if (n <= 0) break; // EAGAIN: nothing more now (ENOBUFS: the kernel dropped some; counted as lost)
      try {
        const at = this.now();
        for (const p of decodeNflog(this.buf.subarray(0, n))) this.aggregator.add(p, at);
      } catch (e) {
        this.lastError = e instanceof Error ? e.message : String(e);
      }
    }
  }

  records(): FlowRecord[] {
    this.drain();
    return this.aggregator.records(this.now());
  }

  stop(): void {
    this.conntrack.stop();
    if (this.timer) clearInterval(this.timer);
    if (this.fd >= 0) this.c?.close(this.fd);
    this.fd = -1;
  }
}
