/**
 * Deleting the conntrack entries of addresses a local workload no longer owns, as Felix does
 * (felix/conntrack/conntrack.go `RemoveConntrackFlows`, driven by
 * felix/routetable/conntrack_owner_tracker.go when a workload's /32 or /128 route goes away or
 * moves to another interface): per address, the entries whose original source is the address
 * (the workload opened the connection) and those whose reply source is (it answered one, whatever
 * DNAT did to the original destination). Over ctnetlink on a NETLINK_NETFILTER socket of the
 * namespace given (the agent's: the host's), not the `conntrack` tool: one IPCTNL_MSG_CT_DELETE
 * with a filter per address and direction, the kernel choosing the entries (Linux 6.11 and later);
 * on an older kernel, which refuses the filter, a dump and one delete per matching entry by its
 * tuple and id. Requests go out from a libuv pool thread (the kernel walks its whole table for a
 * filtered delete: the agent's thread goes on meanwhile); answers are read on this one. Shell
 * (I/O); the bytes are ctnetlink.ts's.
 */
import { constants } from "node:os";
import { errnoName, loadLibc, type Libc } from "../dataplane/libc.js";
import { inNetns } from "../dataplane/netlink/socket.js";
import { TabbyError } from "../errors.js";
import { tryParseIP } from "../net/ip.js";
import { decodeAcks, decodeConntrack, deleteEntryRequest, deleteMatchingRequest, dumpRequest, type CtEntry } from "./ctnetlink.js";

const AF_NETLINK = 16;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
const NETLINK_NETFILTER = 12;
const SOL_SOCKET = 1;
const SO_RCVTIMEO = 20;
/** Requests per datagram: their acknowledgements must fit the socket's receive buffer. */
const PER_SEND = 64;
const { EINVAL, EOPNOTSUPP, ENOENT } = constants.errno;

export interface FlushResult {
  /** Entries deleted one by one (the fallback for kernels without filtered deletes); 0 otherwise. */
  deletedOneByOne: number;
  /** Whether the kernel chose the entries (a filtered delete) or a dump did. */
  method: "filter" | "dump";
}

export interface ConntrackFlusherOptions {
  /** The namespace whose conntrack table is meant (a path such as /run/netns/x); the caller's when absent. */
  netns?: string;
  /** Skip the filtered delete and use the dump at once (tests of the fallback). */
  dumpOnly?: boolean;
}

export class ConntrackFlusher {
  private seq = 1;
  private readonly buf = Buffer.alloc(65536);
  /** The kernel refused a filtered delete once: use the dump from then on. */
  private noFilter: boolean;

  private constructor(
    private readonly c: Libc,
    private readonly fd: number,
    private readonly netns: string | undefined,
    dumpOnly: boolean,
  ) {
    this.noFilter = dumpOnly;
  }

  /** A socket in the namespace. Throws AGENT_CONNTRACK_FAILED (or DP_NETNS_MISSING). */
  static async open(opts: ConntrackFlusherOptions = {}): Promise<ConntrackFlusher> {
    const c = await loadLibc();
    const make = () => c.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
    const fd = opts.netns ? inNetns(opts.netns, make) : make();
    if (fd < 0) throw new TabbyError("AGENT_CONNTRACK_FAILED", `socket(AF_NETLINK, NETLINK_NETFILTER): ${errnoName(c.errno())}`);
    // The kernel answers a request before send returns; the timeout only guards against a lost answer.
    const tv = Buffer.alloc(16);
    tv.writeBigInt64LE(10n, 0);
    c.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, tv, 16);
    return new ConntrackFlusher(c, fd, opts.netns, opts.dumpOnly === true);
  }

  /**
   * Deletes every entry whose original or reply source is one of `addrs` (IPv4 and IPv6; other
   * text throws AGENT_CONNTRACK_FILTER before anything is sent). Throws AGENT_CONNTRACK_FAILED
   * naming the errno when the kernel refuses (after trying every address).
   */
  async flush(addrs: readonly string[]): Promise<FlushResult> {
    const reqs = addrs.flatMap((a) => {
      const ip = tryParseIP(a);
      if (!ip) throw new TabbyError("AGENT_CONNTRACK_FILTER", `not an IP address: ${JSON.stringify(a)}`, { address: a });
      const src = ip.toString();
      return [
        (seq: number) => deleteMatchingRequest(seq, { family: ip.family, orig: { src } }),
        (seq: number) => deleteMatchingRequest(seq, { family: ip.family, reply: { src } }),
      ];
    });
    if (!this.noFilter) {
      const failed = await this.requests("deleting conntrack entries by address", reqs);
      if (!failed.length) return { deletedOneByOne: 0, method: "filter" };
      if (!failed.every((f) => f.errno === EINVAL || f.errno === EOPNOTSUPP)) throw this.failure("deleting conntrack entries by address", failed);
      this.noFilter = true; // a kernel without CTA_FILTER on a flush (before 6.11)
    }
    const want = new Set(addrs.map((a) => tryParseIP(a)!.toString()));
    const doomed = this.dump().filter((e) => want.has(e.src) || (e.replySrc !== undefined && want.has(e.replySrc)));
    // ICMP and other portless entries cannot be named by tuple here: they time out (30 s for ICMP).
    const named = doomed.filter((e) => e.srcPort !== undefined && e.dstPort !== undefined);
    const failed = await this.requests(
      "deleting conntrack entries",
      named.map((e) => (seq: number) => deleteEntryRequest(seq, e)),
    );
    const real = failed.filter((f) => f.errno !== ENOENT); // ended meanwhile
    if (real.length) throw this.failure("deleting conntrack entries", real);
    return { deletedOneByOne: named.length - failed.length, method: "dump" };
  }

  /** The whole conntrack table (both families), read to its end. Throws AGENT_CONNTRACK_FAILED. */
  dump(): CtEntry[] {
    const req = dumpRequest(this.seq++);
    if (this.c.send(this.fd, req, req.length, 0) !== req.length) throw this.failure("asking for a conntrack dump", [{ errno: this.c.errno() }]);
    const out: CtEntry[] = [];
    for (;;) {
      const n = Number(this.c.recv(this.fd, this.buf, this.buf.length, 0));
      if (n <= 0) throw this.failure("reading a conntrack dump", [{ errno: n < 0 ? this.c.errno() : constants.errno.EIO }]);
      const batch = decodeConntrack(this.buf.subarray(0, n));
      out.push(...batch.entries);
      if (batch.done) return out;
    }
  }

  close(): void {
    this.c.close(this.fd);
  }

  /** Sends the requests (PER_SEND a datagram, from a pool thread) and collects their acknowledgements: the failed ones. */
  private async requests(op: string, builds: ((seq: number) => Buffer)[]): Promise<{ seq: number; errno: number }[]> {
    const failed: { seq: number; errno: number }[] = [];
    for (let i = 0; i < builds.length; i += PER_SEND) {
      const waiting = new Set<number>();
      const msg = Buffer.concat(
        builds.slice(i, i + PER_SEND).map((b) => {
          const seq = this.seq++;
          waiting.add(seq);
          return b(seq);
        }),
      );
      // errno is the pool thread's, not readable here: a failed send is reported as EIO.
      if ((await this.c.sendOffThread(this.fd, msg, msg.length, 0)) !== msg.length) throw this.failure(op, [{ errno: constants.errno.EIO }]);
      while (waiting.size) {
        const n = Number(this.c.recv(this.fd, this.buf, this.buf.length, 0));
        if (n <= 0) throw this.failure(`${op}: reading the answers`, [{ errno: n < 0 ? this.c.errno() : constants.errno.EIO }]);
        for (const a of decodeAcks(this.buf.subarray(0, n))) {
          if (!waiting.delete(a.seq)) continue; // an answer to an earlier request
          if (a.errno !== 0) failed.push(a);
        }
      }
    }
    return failed;
  }

  private failure(op: string, failed: { errno: number }[]): TabbyError {
    const names = [...new Set(failed.map((f) => errnoName(f.errno)))];
    return new TabbyError("AGENT_CONNTRACK_FAILED", `${op}${this.netns ? ` in ${this.netns}` : ""}: ${names.join(", ")}`, {
      errno: names[0],
      failed: failed.length,
      ...(this.netns ? { netns: this.netns } : {}),
    });
  }
}

type Log = (level: "info" | "warn", msg: string, fields?: Record<string, unknown>) => void;

/**
 * The agent's hook for the nft driver's `onReleased`: deletes the released addresses' entries
 * with one flusher (opened at first need, in `netns`), logs what it did, and reports a failure
 * (logged, and `noteError` for `node status`) rather than throwing: the policy that dropped the
 * endpoint is programmed either way, and the next release tries again.
 */
export class ReleasedAddressFlush {
  private flusher: Promise<ConntrackFlusher> | undefined;

  constructor(private readonly opts: { netns?: string; log: Log; noteError?: (msg: string) => void }) {}

  readonly run = async (addrs: string[]): Promise<void> => {
    const shown = addrs.slice(0, 20);
    try {
      this.flusher ??= ConntrackFlusher.open(this.opts.netns ? { netns: this.opts.netns } : {});
      const f = await this.flusher.catch((err: unknown) => {
        this.flusher = undefined; // opened again next time
        throw err;
      });
      const r = await f.flush(addrs);
      this.opts.log("info", "deleted the conntrack entries of released workload addresses", { addrs: shown, count: addrs.length, method: r.method });
    } catch (err) {
      this.opts.log("warn", "could not delete the conntrack entries of released workload addresses", { addrs: shown, err: String(err) });
      this.opts.noteError?.(`conntrack entries of released addresses not deleted (${shown.join(", ")}): ${(err as Error).message}`);
    }
  };

  async close(): Promise<void> {
    const f = await this.flusher?.catch(() => undefined);
    f?.close();
    this.flusher = undefined;
  }
}
