/**
 * The host-wide IPAM lock (Calico's calico-ipam takes an flock on /var/run/calico/ipam.lock so that
 * concurrent ADDs on one host do not fight over the same block). Node has no flock(2) without a
 * native module, so this is a lock file created with O_CREAT|O_EXCL holding the owner's pid:
 * whoever creates it holds the lock; others retry every few milliseconds until `timeoutMs`
 * (Calico's 90 s). A lock file whose pid is no longer alive (a plugin killed mid-ADD) is broken
 * by renaming it aside first, so that two waiters cannot both break it and both take the lock.
 * Written by hand: no maintained pure-JS flock exists. Taking and releasing use blocking calls: a
 * lock file is a few bytes on a local disk, and the plugin has nothing to do until it holds it
 * (each asynchronous call would be a round trip through the thread pool on the ADD path, and
 * node:fs/promises alone takes a few ms to load).
 */
import { closeSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { CNI_ERR, CniError } from "./errors.js";

export const DEFAULT_IPAM_LOCK = "/var/run/tabby/ipam.lock";
export const LOCK_TIMEOUT_MS = 90_000;

export type HostLock = <T>(fn: () => Promise<T>) => Promise<T>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

function tryBreakStale(path: string): void {
  const pidIn = (file: string) => {
    try {
      return Number.parseInt(readFileSync(file, "utf8"), 10);
    } catch {
      return undefined; // gone already
    }
  };
  const pid = pidIn(path);
  // An empty file: its creator is between open and write; not stale.
  if (pid === undefined || !Number.isInteger(pid) || pid <= 0 || alive(pid)) return;
  const aside = `${path}.stale.${process.pid}`;
  try {
    renameSync(path, aside);
  } catch {
    return;
  }
  // Renamed someone else's fresh lock by accident (the stale one was broken and retaken in
  // between)? Put it back unless it is the stale one we read.
  try {
    if (pidIn(aside) === pid) unlinkSync(aside);
    else renameSync(aside, path);
  } catch {
    /* raced with another breaker: nothing of ours is left */
  }
}

/** Runs `fn` holding the lock file at `path`. */
export function fileLock(path: string = DEFAULT_IPAM_LOCK, timeoutMs = LOCK_TIMEOUT_MS): HostLock {
  return async <T>(fn: () => Promise<T>): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    let delay = 2;
    for (;;) {
      try {
        const fd = openSync(path, "wx", 0o600);
        try {
          writeSync(fd, String(process.pid));
        } catch (e) {
          closeSync(fd);
          unlinkSync(path); // an empty lock file would look like its creator is still writing
          throw e;
        }
        closeSync(fd);
        break;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === "ENOENT") {
          mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
          continue;
        }
        if (code !== "EEXIST") throw new CniError(CNI_ERR.IO_FAILURE, `cannot create the IPAM lock ${path}: ${(e as Error).message}`);
        if (Date.now() > deadline) throw new CniError(CNI_ERR.TRY_AGAIN_LATER, `timed out after ${timeoutMs} ms waiting for the IPAM lock ${path}`);
        tryBreakStale(path);
        await sleep(delay);
        delay = Math.min(delay * 2, 50);
      }
    }
    try {
      return await fn();
    } finally {
      try {
        unlinkSync(path);
      } catch {
        /* broken by another as stale, or removed by hand */
      }
    }
  };
}

/** No locking (tests that run in process with an in-memory store). */
export const noLock: HostLock = (fn) => fn();
