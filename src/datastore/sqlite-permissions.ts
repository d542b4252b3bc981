/**
 * The SQLite store is private (issue 19): whoever can write the database file, its WAL/SHM files
 * or the directory holding them (and so replace them) can write any resource, a
 * GlobalNetworkPolicy that allows everything included. `permissionProblem` is the pure rule;
 * `securePaths` is the shell run before the database is opened: the directory, the database
 * file and its -wal/-shm files (those that exist) must be owned by root or by the user running
 * tabby, must not be writable by others, and may be group-writable only by group root (gid 0).
 * Sticky world-writable directories such as /tmp are refused too: another user could create
 * the -wal or -shm file first. A database file tabby creates is made 0600 before SQLite opens it
 * (SQLite gives its -wal/-shm files the database file's mode), in a directory made 0700.
 */
import { closeSync, constants, openSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { DatastoreError } from "./store.js";

export interface Ownership {
  mode: number;
  uid: number;
  gid: number;
}

/** What is wrong with `path`'s ownership and mode for a private store, or undefined. */
export function permissionProblem(path: string, st: Ownership, myUid: number): string | undefined {
  const isDir = (st.mode & constants.S_IFMT) === constants.S_IFDIR;
  const what = isDir ? "directory" : "file";
  const fix = isDir ? `chmod 700 ${path}` : `chmod 600 ${path}`;
  if (st.uid !== 0 && st.uid !== myUid)
    return `${what} ${path} is owned by uid ${st.uid}, neither root nor this user (uid ${myUid}), who could change it: chown ${myUid} ${path} && ${fix}`;
  if (st.mode & 0o002) return `${what} ${path} is writable by every user (mode ${(st.mode & 0o7777).toString(8).padStart(4, "0")}): ${fix}`;
  if (st.mode & 0o020 && st.gid !== 0)
    return `${what} ${path} is writable by group ${st.gid}, not root's (mode ${(st.mode & 0o7777).toString(8).padStart(4, "0")}): ${fix}`;
  return undefined;
}

function statOrUndefined(path: string): Ownership | undefined {
  try {
    return statSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/**
 * Checks the directory and files of the database at `path` (the directory must exist), and
 * creates the database file 0600 if it does not exist yet. Throws DS_INSECURE_PERMISSIONS.
 */
export function securePaths(path: string, myUid: number = process.getuid?.() ?? 0): void {
  const dir = dirname(path);
  const check = (p: string, st: Ownership | undefined) => {
    const problem = st && permissionProblem(p, st, myUid);
    if (problem) throw new DatastoreError("DS_INSECURE_PERMISSIONS", `sqlite://${path}: refusing to open: ${problem}`, { path: p });
  };
  check(dir, statOrUndefined(dir));
  if (!statOrUndefined(path)) {
    try {
      closeSync(openSync(path, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY | constants.O_NOFOLLOW, 0o600));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err; // another opener made it first
    }
  }
  for (const p of [path, `${path}-wal`, `${path}-shm`]) check(p, statOrUndefined(p));
}
