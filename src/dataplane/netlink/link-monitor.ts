/**
 * The agent's link and address monitor: a NETLINK_ROUTE socket in the agent's network namespace
 * (or the one at `netns`) that joins the link and address groups (link-events.ts), so that a link
 * going down or up, or an address added or removed, is heard at once rather than at the next
 * resync (Felix's route table manager does the same). The socket is non-blocking and read on a
 * short timer (Node has no AF_NETLINK to wait on, and a recv blocking on a libuv pool thread
 * would hold one of its four threads for good); whatever arrived since the last read is one
 * coalesced report. A full receive queue (ENOBUFS: notifications were lost) is reported too.
 * Shell (I/O); the bytes are link-events.ts's.
 */
import { TabbyError } from "../../errors.js";
import { errnoName, loadLibc, type Libc } from "../libc.js";
import { LINK_ADDR_GROUPS, linkAddrChanges, noopRequest, recreatedLinks } from "./link-events.js";
import { inNetns } from "./socket.js";
import { AF_NETLINK, NETLINK_ADD_MEMBERSHIP, NETLINK_ROUTE, SOCK_CLOEXEC, SOCK_NONBLOCK, SOCK_RAW, SOL_NETLINK } from "./constants.js";

const ENOBUFS = 105;

/**
 * What the agent takes (AgentDeps.linkWatch): `onChange` after links or addresses changed, with
 * the names of the links that are new or were made again (a new index under the name; a link
 * going up or down is not) — undefined when that is not known (notifications lost, or one that
 * did not decode): then any link may be.
 */
export interface LinkWatch {
  /** Throws (DP_LINKWATCH_FAILED) when the socket cannot be opened. */
  start(onChange: (newLinks: readonly string[] | undefined) => void): Promise<void>;
  stop(): void;
}

export interface LinkMonitorOptions {
  /** A network namespace's path (/var/run/netns/x); the process's own when unset. */
  netns?: string;
  /**
   * How often the socket is read (ms); 500 unless set. Each read wakes the process: measured on a
   * loaded 2-core machine, 100 ms cost ~0.19 % of a core (as much as the rest of an idle agent),
   * 250 ms ~0.08 %, 500 ms ~0.04 %.
   */
  pollMs?: number;
}

export class LinkMonitor implements LinkWatch {
  private fd = -1;
  private c: Libc | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly buf = Buffer.alloc(65536);
  /** The index last heard under each link name (recreatedLinks). */
  private readonly indexes = new Map<string, number>();

  constructor(private readonly opts: LinkMonitorOptions = {}) {}

  async start(onChange: (newLinks: readonly string[] | undefined) => void): Promise<void> {
    if (this.fd >= 0) return;
    const c = (this.c = await loadLibc());
    const fail = (what: string, errno: number): never => {
      this.stop();
      throw new TabbyError("DP_LINKWATCH_FAILED", `${what}: ${errnoName(errno)}`, {
        errno: errnoName(errno),
        ...(this.opts.netns ? { netns: this.opts.netns } : {}),
      });
    };
    const open = () => c.socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
    try {
      this.fd = this.opts.netns ? inNetns(this.opts.netns, open) : open();
    } catch (e) {
      throw new TabbyError("DP_LINKWATCH_FAILED", `opening the link monitor's socket: ${(e as Error).message}`, undefined, { cause: e });
    }
    if (this.fd < 0) fail("socket(AF_NETLINK, NETLINK_ROUTE)", c.errno());
    const noop = noopRequest(0);
    if (c.send(this.fd, noop, noop.length, 0) < 0) fail("binding the link monitor's socket", c.errno());
    for (const g of LINK_ADDR_GROUPS) {
      const group = Buffer.alloc(4);
      group.writeUInt32LE(g);
      if (c.setsockopt(this.fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, group, 4) < 0) fail(`joining rtnetlink group ${g}`, c.errno());
    }
    this.timer = setInterval(() => {
      const got = this.drain();
      if (got.changed) onChange(got.newLinks);
    }, this.opts.pollMs ?? 500);
    this.timer.unref();
  }

  /**
   * Reads what is queued: whether a link or an address changed (or notifications were lost), and
   * the links new or changed by name (undefined: unknown, any may be).
   */
  private drain(): { changed: boolean; newLinks: string[] | undefined } {
    const c = this.c;
    if (this.fd < 0 || !c) return { changed: false, newLinks: [] };
    let changed = false;
    let newLinks: string[] | undefined = [];
    for (let i = 0; i < 10_000; i++) {
      const n = Number(c.recv(this.fd, this.buf, this.buf.length, 0));
      if (n < 0 && c.errno() === ENOBUFS) {
        changed = true; // lost some: assume the worst
        newLinks = undefined;
        continue;
      }
      if (n <= 0) break;
      try {
        const got = linkAddrChanges(this.buf.subarray(0, n));
        if (got.links + got.addresses > 0) changed = true;
        if (got.unnamedLinks > 0) newLinks = undefined;
        else for (const name of recreatedLinks(this.indexes, got.newLinks)) if (newLinks && !newLinks.includes(name)) newLinks.push(name);
      } catch {
        changed = true; // undecodable: read the kernel's state again rather than miss a change
        newLinks = undefined;
      }
    }
    return { changed, newLinks };
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.fd >= 0) this.c?.close(this.fd);
    this.fd = -1;
  }
}
