/**
 * The agent's conntrack counter reader, for flow logs' allowed flows: turns on conntrack
 * accounting (net.netfilter.nf_conntrack_acct=1 in the agent's namespace, the host's; put back as
 * it was when flow logs turn off), listens to conntrack destroy events (a NETLINK_NETFILTER
 * socket in NFNLGRP_CONNTRACK_DESTROY: each finished connection's final counters) and dumps the
 * conntrack table when asked (long-lived connections' counters as they grow), both read without
 * blocking through libc (src/dataplane/libc.ts). Shell (I/O); the bytes are ctnetlink.ts's.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { loadLibc, type Libc } from "../dataplane/libc.js";
import { TabbyError } from "../errors.js";
import { decodeConntrack, dumpRequest, noopMessage, NFNLGRP_CONNTRACK_DESTROY, type CtEntry } from "./ctnetlink.js";

const AF_NETLINK = 16;
const SOCK_RAW = 3;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const NETLINK_NETFILTER = 12;
const SOL_NETLINK = 270;
const NETLINK_ADD_MEMBERSHIP = 1;
const ENOBUFS = 105;

export const ACCT_SYSCTL = "/proc/sys/net/netfilter/nf_conntrack_acct";

/** The sysctl's file, injected so tests and other namespaces can stand in. */
export interface SysctlFile {
  read(path: string): string;
  write(path: string, value: string): void;
}

const procFs: SysctlFile = { read: (p) => readFileSync(p, "utf8"), write: (p, v) => writeFileSync(p, v) };

export class ConntrackReader {
  private events = -1;
  private dump = -1;
  private c: Libc | undefined;
  private readonly buf = Buffer.alloc(65536);
  private seq = 1;
  /** A dump under way: the entries read so far. */
  private dumping: CtEntry[] | undefined;
  /** The sysctl's value before we set it, to put back. */
  private acctBefore: string | undefined;

  constructor(private readonly sysctl: SysctlFile = procFs) {}

  get running(): boolean {
    return this.events >= 0;
  }

  /** Accounting on, the event socket and the dump socket open. Throws AGENT_CONNTRACK_FAILED. */
  async start(): Promise<void> {
    if (this.running) return;
    const c = (this.c = await loadLibc());
    try {
      const before = this.sysctl.read(ACCT_SYSCTL).trim();
      if (before !== "1") {
        this.sysctl.write(ACCT_SYSCTL, "1");
        this.acctBefore = before;
      }
    } catch (e) {
      throw new TabbyError("AGENT_CONNTRACK_FAILED", `cannot turn on conntrack accounting (${ACCT_SYSCTL}): ${(e as Error).message}`);
    }
    const open = (what: string): number => {
      const fd = c.socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_NETFILTER);
      if (fd < 0) throw new TabbyError("AGENT_CONNTRACK_FAILED", `socket(AF_NETLINK, NETLINK_NETFILTER) for ${what}: errno ${c.errno()}`);
      return fd;
    };
    this.events = open("conntrack events");
    // bind to a port id first (autobind on send): an unbound socket's membership receives nothing
    const noop = noopMessage(0);
    if (c.send(this.events, noop, noop.length, 0) < 0) {
      const e = c.errno();
      this.stop();
      throw new TabbyError("AGENT_CONNTRACK_FAILED", `binding the conntrack event socket: errno ${e}`);
    }
    const group = Buffer.alloc(4);
    group.writeUInt32LE(NFNLGRP_CONNTRACK_DESTROY);
    if (c.setsockopt(this.events, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, group, 4) < 0) {
      const e = c.errno();
      this.stop();
      throw new TabbyError("AGENT_CONNTRACK_FAILED", `joining the conntrack destroy-event group: errno ${e}`);
    }
    this.dump = open("conntrack dumps");
  }

  /** Destroy events since the last call (the final counters of connections that ended). */
  drainEvents(): CtEntry[] {
    const out: CtEntry[] = [];
    if (this.events < 0 || !this.c) return out;
    for (let i = 0; i < 10_000; i++) {
      const n = Number(this.c.recv(this.events, this.buf, this.buf.length, 0));
      if (n < 0 && this.c.errno() === ENOBUFS) continue; // events were lost; the next complete dump settles them
      if (n <= 0) break;
      out.push(...decodeConntrack(this.buf.subarray(0, n)).entries);
    }
    return out;
  }

  /**
   * Reads a dump of the conntrack table: starts one when none is under way, then reads what is
   * there. The entries once the dump is complete, else undefined (the rest is read next call).
   */
  readDump(): CtEntry[] | undefined {
    if (this.dump < 0 || !this.c) return undefined;
    if (!this.dumping) {
      const req = dumpRequest(this.seq++);
      if (this.c.send(this.dump, req, req.length, 0) < 0)
        throw new TabbyError("AGENT_CONNTRACK_FAILED", `asking for a conntrack dump: errno ${this.c.errno()}`);
      this.dumping = [];
    }
    for (let i = 0; i < 100_000; i++) {
      const n = Number(this.c.recv(this.dump, this.buf, this.buf.length, 0));
      if (n <= 0) return undefined;
      let batch;
      try {
        batch = decodeConntrack(this.buf.subarray(0, n));
      } catch (e) {
        this.dumping = undefined;
        throw e;
      }
      this.dumping.push(...batch.entries);
      if (batch.done) {
        const all = this.dumping;
        this.dumping = undefined;
        return all;
      }
    }
    return undefined;
  }

  /** Closes the sockets and puts the sysctl back as it was. */
  stop(): void {
    for (const fd of [this.events, this.dump]) if (fd >= 0) this.c?.close(fd);
    this.events = this.dump = -1;
    this.dumping = undefined;
    if (this.acctBefore !== undefined) {
      try {
        this.sysctl.write(ACCT_SYSCTL, this.acctBefore);
      } catch {
        // the namespace is going away
      }
      this.acctBefore = undefined;
    }
  }
}
