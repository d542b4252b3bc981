/**
 * The few libc calls Node does not offer (socket(2), send/recv and setsockopt for AF_NETLINK, setns(2),
 * flock(2)), through the `koffi` FFI package, loaded once on first need. A dynamic import, so that
 * the bundled CNI plugins require the addon scripts/build-cni.mjs pinned. Linux only. Shell (I/O).
 */
import { constants } from "node:os";
import { TabbyError } from "../errors.js";

export interface Libc {
  socket(domain: number, type: number, proto: number): number;
  send(fd: number, buf: Buffer, len: number, flags: number): number;
  /** send(2) on a libuv pool thread: the kernel works on the request meanwhile, not this thread. */
  sendOffThread(fd: number, buf: Buffer, len: number, flags: number): Promise<number>;
  recv(fd: number, buf: Buffer, len: number, flags: number): number;
  setsockopt(fd: number, level: number, name: number, value: Buffer, len: number): number;
  setns(fd: number, nstype: number): number;
  flock(fd: number, operation: number): number;
  close(fd: number): number;
  /** errno of this thread's last failed call. */
  errno(): number;
}

/** What is used of koffi (the package, or in the bundled plugins its addon itself). */
type KoffiFunction = ((...args: unknown[]) => number) & { async(...argsAndCallback: unknown[]): void };
interface Koffi {
  load(name: string): { func(sig: string): KoffiFunction };
  errno(): number;
}

let libc: Libc | undefined;

/** libc, loaded on first call. Throws DP_FFI_UNSUPPORTED off Linux or without koffi. */
export async function loadLibc(): Promise<Libc> {
  if (libc) return libc;
  if (process.platform !== "linux") throw new TabbyError("DP_FFI_UNSUPPORTED", "netlink, setns and flock are used on Linux only");
  let koffi: Koffi;
  try {
    const m = (await import("koffi")) as unknown as { default?: Koffi } & Koffi;
    koffi = typeof m.load === "function" ? m : m.default!;
  } catch (e) {
    throw new TabbyError(
      "DP_FFI_UNSUPPORTED",
      `the koffi package is needed for netlink, setns and flock: ${e instanceof Error ? e.message : String(e)}`,
      undefined,
      { cause: e },
    );
  }
  const c = koffi.load("libc.so.6");
  const socket = c.func("int socket(int, int, int)");
  const send = c.func("long send(int, void *, unsigned long, int)");
  const recv = c.func("long recv(int, _Out_ void *, unsigned long, int)");
  const setsockopt = c.func("int setsockopt(int, int, int, void *, unsigned int)");
  const setns = c.func("int setns(int, int)");
  const flock = c.func("int flock(int, int)");
  const close = c.func("int close(int)");
  libc = {
    socket: (a, b, p) => socket(a, b, p),
    send: (fd, b, l, f) => send(fd, b, l, f),
    sendOffThread: (fd, b, l, f) => new Promise((resolve, reject) => send.async(fd, b, l, f, (err: unknown, n: number) => (err ? reject(err) : resolve(n)))),
    recv: (fd, b, l, f) => recv(fd, b, l, f),
    setsockopt: (fd, lv, n, v, l) => setsockopt(fd, lv, n, v, l),
    setns: (fd, t) => setns(fd, t),
    flock: (fd, op) => flock(fd, op),
    close: (fd) => close(fd),
    errno: () => koffi.errno(),
  };
  return libc;
}

/** libc once loadLibc() has run; before that, DP_FFI_UNSUPPORTED. */
export function loadedLibc(): Libc {
  if (!libc) throw new TabbyError("DP_FFI_UNSUPPORTED", "libc used before loadLibc()");
  return libc;
}

const ERRNO_NAMES = new Map<number, string>(Object.entries(constants.errno).map(([k, v]) => [v, k]));

/** "EEXIST" for 17. */
export function errnoName(errno: number): string {
  return ERRNO_NAMES.get(errno) ?? `errno ${errno}`;
}
