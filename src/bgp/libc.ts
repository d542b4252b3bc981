/**
 * libc through the `koffi` FFI package, loaded on first use, for the socket calls Node does not
 * offer: setsockopt/getsockopt for TCP-MD5 (RFC 2385, md5.ts) and GTSM (RFC 5082, gtsm.ts), and
 * sockets made by hand (md5.ts, listener-socket.ts). Linux only. Shell (I/O).
 */
import { createRequire } from "node:module";
import { BgpError } from "./errors.js";

export interface Libc {
  socket(domain: number, type: number, proto: number): number;
  setsockopt(fd: number, level: number, name: number, value: Buffer, len: number): number;
  getsockopt(fd: number, level: number, name: number, value: Buffer, len: Buffer): number;
  bind(fd: number, addr: Buffer, len: number): number;
  connect(fd: number, addr: Buffer, len: number): number;
  getpeername(fd: number, addr: Buffer, len: Buffer): number;
  close(fd: number): number;
  errno(): number;
}

let libc: Libc | undefined;

/** libc through koffi, for socket options Node does not offer (TCP-MD5, GTSM). */
export function loadLibc(): Libc {
  if (libc) return libc;
  if (process.platform !== "linux") throw new BgpError("BGP_MD5_UNSUPPORTED", "TCP-MD5 passwords and GTSM are supported on Linux only");
  let koffi: {
    load(name: string): { func(sig: string): (...args: unknown[]) => number };
    errno(): number;
  };
  try {
    koffi = createRequire(import.meta.url)("koffi");
  } catch (e) {
    throw new BgpError("BGP_MD5_UNSUPPORTED", `TCP-MD5 and GTSM need the koffi package: ${e instanceof Error ? e.message : String(e)}`);
  }
  const c = koffi.load("libc.so.6");
  const f = (sig: string) => c.func(sig);
  const socket = f("int socket(int, int, int)");
  const setsockopt = f("int setsockopt(int, int, int, void *, uint32_t)");
  const getsockopt = f("int getsockopt(int, int, int, void *, void *)");
  const bind = f("int bind(int, void *, uint32_t)");
  const connect = f("int connect(int, void *, uint32_t)");
  const getpeername = f("int getpeername(int, void *, void *)");
  const close = f("int close(int)");
  libc = {
    socket: (a, b, d) => socket(a, b, d),
    setsockopt: (a, b, d, v, l) => setsockopt(a, b, d, v, l),
    getsockopt: (a, b, d, v, l) => getsockopt(a, b, d, v, l),
    bind: (a, v, l) => bind(a, v, l),
    connect: (a, v, l) => connect(a, v, l),
    getpeername: (a, v, l) => getpeername(a, v, l),
    close: (a) => close(a),
    errno: () => koffi.errno(),
  };
  return libc;
}

let trim: (() => number) | null | undefined;

/**
 * glibc's malloc_trim(0): returns the free pages of every malloc arena to the system (Node's
 * buffers and V8's compiler zones are malloc'd, and glibc keeps what they free; measured: 5–10 MB
 * of a reflector's idle RSS). Undefined where it is not available (not glibc, no koffi). The
 * memory reducer calls it after its idle collection; koffi is loaded then, not at start.
 */
export function loadMallocTrim(): (() => number) | undefined {
  if (trim !== undefined) return trim ?? undefined;
  trim = null;
  if (process.platform !== "linux") return undefined;
  type Koffi = { load(name: string): { func(sig: string): (pad: number) => number } };
  const require = createRequire(import.meta.url);
  // koffi's native addon itself when its platform package is there: the package's JavaScript (a
  // 760 kB bundle) would cost more memory (1.6 MB against 0.5 MB) than some trims give back
  const addon = `@koromix/koffi-${process.platform}-${process.arch}/${process.platform}_${process.arch}/koffi.node`;
  for (const name of [addon, "koffi"]) {
    try {
      const f = (require(name) as Koffi).load("libc.so.6").func("int malloc_trim(size_t)");
      trim = () => f(0);
      break;
    } catch {
      /* not this one; musl or no koffi at all: nothing to trim with */
    }
  }
  return trim ?? undefined;
}
