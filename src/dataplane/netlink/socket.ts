/**
 * A NETLINK_ROUTE socket (RFC 3549; netlink(7), rtnetlink(7)) in this or another network
 * namespace, through libc (../libc.ts, the `koffi` FFI): Node has no AF_NETLINK. A socket belongs
 * to the namespace it was made in, so one for another namespace is made with the calling thread
 * briefly moved there by setns(2) (a network namespace switch is per thread; JavaScript runs on
 * this one thread, and libuv's pool threads stay where they are) and moved back before anything
 * else runs. Requests are synchronous: rtnetlink handles a request inside the sendmsg call, so the
 * reply is already queued when recv runs. Callers load libc first (`loadLibc`). Shell (I/O); the
 * bytes are codec.ts's.
 */
import { closeSync, openSync } from "node:fs";
import { constants } from "node:os";
import { TabbyError } from "../../errors.js";
import { errnoName, loadedLibc } from "../libc.js";
import { decodeReplies, replyErrno, replyExtack, type Reply } from "./codec.js";
import {
  AF_NETLINK,
  NETLINK_CAP_ACK,
  NETLINK_EXT_ACK,
  NETLINK_ROUTE,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLM_F_DUMP_INTR,
  SOCK_CLOEXEC,
  SOCK_RAW,
  SOL_NETLINK,
} from "./constants.js";

const CLONE_NEWNET = 0x40000000;
const RECV_BUF = 65536;
/** How often a dump the table's changes interrupted is tried again before it is taken as it is. */
const DUMP_TRIES = 4;

/**
 * A failed netlink request or system call; `details.errno` is the errno's name ("EEXIST"),
 * `details.extack` the kernel's explanation when it gave one.
 */
export function netlinkError(op: string, errno: number, netns?: string, extack?: string): TabbyError {
  const name = errnoName(errno);
  return new TabbyError("DP_NETLINK_FAILED", `${op}${netns ? ` in ${netns}` : ""}: ${name}${extack ? ` (${extack})` : ""}`, {
    op,
    errno: name,
    errnoNumber: errno,
    ...(extack ? { extack } : {}),
    ...(netns ? { netns } : {}),
  });
}

/** True when `e` is a netlink failure with that errno name. */
export function isErrno(e: unknown, name: string): boolean {
  return e instanceof TabbyError && e.code === "DP_NETLINK_FAILED" && e.details?.errno === name;
}

/** An open descriptor of the namespace at `path`; DP_NETNS_MISSING when there is none. */
export function openNetns(path: string): number {
  try {
    return openSync(path, "r");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? "EIO";
    throw new TabbyError("DP_NETNS_MISSING", `network namespace ${path}: ${code}`, { netns: path, errno: code }, { cause: e });
  }
}

/**
 * Runs `fn` with this thread in the network namespace at `path` (/proc/sys/net, and sockets made
 * meanwhile, are that namespace's), and moves back whatever `fn` does. Synchronous on purpose.
 */
export function inNetns<T>(path: string, fn: () => T): T {
  const c = loadedLibc();
  const home = openNetns("/proc/thread-self/ns/net");
  try {
    const target = openNetns(path);
    try {
      if (c.setns(target, CLONE_NEWNET) !== 0) throw netlinkError("setns", c.errno(), path);
    } finally {
      closeSync(target);
    }
    try {
      return fn();
    } finally {
      // Failing to return would leave the plugin acting on the wrong namespace: never carry on.
      if (c.setns(home, CLONE_NEWNET) !== 0) {
        process.stderr.write(`tabby: cannot return to the original network namespace (${errnoName(c.errno())})\n`);
        process.exit(70);
      }
    }
  } finally {
    closeSync(home);
  }
}

/** An rtnetlink socket. Not for concurrent use: one request at a time (they are synchronous). */
export class RouteSocket {
  private seq = 1;
  private busy = false;
  private readonly buf = Buffer.alloc(RECV_BUF);
  /** The last dump's messages came flagged NLM_F_DUMP_INTR. */
  private interrupted = false;

  private constructor(
    private readonly fd: number,
    /** For messages: the namespace, when not the caller's own. */
    readonly netns: string | undefined,
  ) {}

  /** A socket in the namespace at `netnsPath`, else in this thread's. */
  static open(netnsPath?: string): RouteSocket {
    return netnsPath ? inNetns(netnsPath, () => RouteSocket.here(netnsPath)) : RouteSocket.here();
  }

  /** A socket in this thread's current namespace (inside inNetns: that one, named `label`). */
  static here(label?: string): RouteSocket {
    const c = loadedLibc();
    const fd = c.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) throw netlinkError("socket(AF_NETLINK)", c.errno(), label);
    // errors without the request echoed, with the kernel's words: best effort (old kernels lack them)
    const one = Buffer.alloc(4);
    one.writeInt32LE(1);
    c.setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, one, 4);
    c.setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, one, 4);
    return new RouteSocket(fd, label);
  }

  /**
   * Sends the message `build` makes with the next sequence number and returns the kernel's answers
   * to it (without the acknowledgement). A negative acknowledgement throws DP_NETLINK_FAILED
   * naming `op` and the errno.
   */
  request(op: string, build: (seq: number) => Buffer): Reply[] {
    const c = loadedLibc();
    const [seq, msg] = this.next(build);
    try {
      if (c.send(this.fd, msg, msg.length, 0) !== msg.length) throw netlinkError(op, c.errno(), this.netns);
      return this.answers(op, seq);
    } finally {
      this.busy = false;
    }
  }

  /**
   * A dump request (NLM_F_DUMP): every answer, over as many datagrams as the kernel needs, up to
   * NLMSG_DONE. A dump the table's changes interrupted (NLM_F_DUMP_INTR) is made again, a few
   * times at most, so that what is returned is one consistent view when the kernel can give one.
   */
  dump(op: string, build: (seq: number) => Buffer): Reply[] {
    for (let tries = 1; ; tries++) {
      this.interrupted = false;
      const answers = this.request(op, build);
      if (tries >= DUMP_TRIES || !this.interrupted) return answers;
    }
  }

  /**
   * As `request`, for a request the kernel may take a while over (removing a veth waits for the
   * network stack to let go of it, tens of ms): sent from a pool thread, so that this thread goes
   * on meanwhile (a CNI plugin loads its datastore). No other request on this socket until it ends.
   */
  async requestOffThread(op: string, build: (seq: number) => Buffer): Promise<Reply[]> {
    const c = loadedLibc();
    const [seq, msg] = this.next(build);
    try {
      // errno is the pool thread's, not readable here: a failed send is reported as EIO.
      if ((await c.sendOffThread(this.fd, msg, msg.length, 0)) !== msg.length) throw netlinkError(op, constants.errno.EIO, this.netns);
      return this.answers(op, seq);
    } finally {
      this.busy = false;
    }
  }

  /** The next sequence number and its message; the socket is busy from here until the answer. */
  private next(build: (seq: number) => Buffer): [number, Buffer] {
    if (this.busy) throw new TabbyError("DP_NETLINK_BUSY", "a netlink request is already under way on this socket");
    const seq = this.seq++;
    const msg = build(seq); // may refuse its input: the socket stays free
    this.busy = true;
    return [seq, msg];
  }

  /** The answers to request `seq`, up to its acknowledgement (or NLMSG_DONE). */
  private answers(op: string, seq: number): Reply[] {
    const c = loadedLibc();
    const answers: Reply[] = [];
    for (;;) {
      const n = c.recv(this.fd, this.buf, this.buf.length, 0);
      if (n < 0) throw netlinkError(op, c.errno(), this.netns);
      if (n === 0) throw new TabbyError("DP_NETLINK_DECODE", `${op}: the kernel's answer was empty`);
      for (const r of decodeReplies(Buffer.from(this.buf.subarray(0, n)))) {
        if (r.seq !== seq) continue; // a late answer to an earlier request
        if (r.flags & NLM_F_DUMP_INTR) this.interrupted = true;
        if (r.type === NLMSG_DONE) {
          // a dump's end carries its outcome: a failure partway is the dump's failure
          const errno = r.payload.length >= 4 ? -r.payload.readInt32LE(0) : 0;
          if (errno > 0) throw netlinkError(op, errno, this.netns);
          return answers;
        }
        if (r.type === NLMSG_ERROR) {
          const errno = replyErrno(r);
          if (errno !== 0) throw netlinkError(op, errno, this.netns, replyExtack(r));
          return answers;
        }
        answers.push(r);
      }
    }
  }

  close(): void {
    loadedLibc().close(this.fd);
  }
}
