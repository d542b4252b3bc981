/**
 * The host-wide IPAM lock, as Calico's calico-ipam takes it: flock(2) on a lock file
 * (/var/run/tabby/ipam.lock; Calico's is /var/run/calico/ipam.lock), so that concurrent ADDs and
 * DELs on one host do not fight over the same block. The kernel drops the lock when its holder
 * exits, however it exits: a plugin killed mid-ADD leaves nothing that blocks the next one (the
 * file itself stays; it is only a name to lock). Taken without blocking (LOCK_NB) and retried
 * every few ms, up to `timeoutMs` (Calico's 90 s), so a wait can time out. flock through libc
 * (../dataplane/libc.ts): Node has none. Locks are per open file, so two holders in one process
 * exclude each other too.
 */
import { closeSync, mkdirSync, openSync } from "node:fs";
import { dirname } from "node:path";
import { errnoName, loadLibc } from "../dataplane/libc.js";
import { Backoff } from "../net/backoff.js";
import { CNI_ERR, CniError } from "./errors.js";

export const DEFAULT_IPAM_LOCK = "/var/run/tabby/ipam.lock";
export const LOCK_TIMEOUT_MS = 90_000;

export type HostLock = <T>(fn: () => Promise<T>) => Promise<T>;

const LOCK_EX = 2;
const LOCK_NB = 4;
const LOCK_UN = 8;
const EWOULDBLOCK = 11;
const EINTR = 4;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The lock file, created (with its directory) when missing. Blocking calls: a few bytes of metadata. */
function openLockFile(path: string): number {
  try {
    return openSync(path, "a", 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw new CniError(CNI_ERR.IO_FAILURE, `cannot open the IPAM lock ${path}: ${(e as Error).message}`);
  }
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
    return openSync(path, "a", 0o600);
  } catch (e) {
    throw new CniError(CNI_ERR.IO_FAILURE, `cannot create the IPAM lock ${path}: ${(e as Error).message}`);
  }
}

/** Runs `fn` holding an exclusive flock on the file at `path`. */
export function fileLock(path: string = DEFAULT_IPAM_LOCK, timeoutMs = LOCK_TIMEOUT_MS): HostLock {
  return async <T>(fn: () => Promise<T>): Promise<T> => {
    const libc = await loadLibc();
    const fd = openLockFile(path);
    try {
      const deadline = Date.now() + timeoutMs;
      // 1 ms doubling to 50 ms, up to half of each at random: plugins of one pod start together
      const backoff = new Backoff({ initialMs: 1, maxMs: 50, jitter: 0.5 });
      while (libc.flock(fd, LOCK_EX | LOCK_NB) !== 0) {
        const errno = libc.errno();
        if (errno !== EWOULDBLOCK && errno !== EINTR) throw new CniError(CNI_ERR.IO_FAILURE, `cannot lock ${path}: ${errnoName(errno)}`);
        if (Date.now() > deadline) throw new CniError(CNI_ERR.TRY_AGAIN_LATER, `timed out after ${timeoutMs} ms waiting for the IPAM lock ${path}`);
        await sleep(backoff.next());
      }
      try {
        return await fn();
      } finally {
        libc.flock(fd, LOCK_UN);
      }
    } finally {
      closeSync(fd); // releases the lock too, should the unlock above have failed
    }
  };
}
