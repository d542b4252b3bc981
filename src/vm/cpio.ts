/**
 * The "newc" cpio archive (the SVR4 format with no CRC, magic 070701) that the Linux kernel
 * unpacks as an initramfs (Documentation/driver-api/early-userspace/buffer-format.rst): per entry
 * a 110-byte ASCII header of 8-hex-digit fields, the NUL-terminated name padded to 4 bytes, the
 * data padded to 4 bytes; the archive ends with the entry "TRAILER!!!". Directories, regular
 * files, symlinks (the data is the target) and character devices (an initial /dev/console).
 * Pure: bytes out, no I/O; mtime fixed at 0 so the same inputs give the same bytes.
 */
import { TabbyError } from "../errors.js";

export type CpioEntry =
  | { type: "dir"; path: string; mode?: number }
  | { type: "file"; path: string; data: Uint8Array; mode?: number }
  | { type: "symlink"; path: string; target: string }
  | { type: "chardev"; path: string; major: number; minor: number; mode?: number };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

function hex8(n: number): string {
  return n.toString(16).padStart(8, "0");
}

function pad4(n: number): number {
  return (4 - (n % 4)) % 4;
}

function header(f: { ino: number; mode: number; nlink: number; size: number; rmaj: number; rmin: number; namesize: number }): string {
  // magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, namesize, check
  return "070701" + [f.ino, f.mode, 0, 0, f.nlink, 0, f.size, 0, 0, f.rmaj, f.rmin, f.namesize, 0].map(hex8).join("");
}

/** The archive of `entries`, in order (a directory must come before what it holds). */
export function encodeCpio(entries: readonly CpioEntry[]): Uint8Array {
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  let ino = 1;
  const push = (hdr: string, name: string, data: Uint8Array) => {
    const head = enc.encode(hdr + name + "\0");
    parts.push(head, new Uint8Array(pad4(head.length)), data, new Uint8Array(pad4(data.length)));
  };
  for (const e of [...entries, { type: "trailer" as const, path: "TRAILER!!!" }]) {
    const name = e.path.replace(/^\/+/, "");
    if (!name || name.includes("\0")) throw new TabbyError("LAB_BAD_INITRAMFS", `cpio entry with a bad path ${JSON.stringify(e.path)}`);
    let mode = 0;
    let data: Uint8Array = new Uint8Array(0);
    let rmaj = 0;
    let rmin = 0;
    let nlink = 1;
    switch (e.type) {
      case "dir":
        mode = S_IFDIR | (e.mode ?? 0o755);
        nlink = 2;
        break;
      case "file":
        mode = S_IFREG | (e.mode ?? 0o644);
        data = e.data;
        break;
      case "symlink":
        mode = S_IFLNK | 0o777;
        data = enc.encode(e.target);
        break;
      case "chardev":
        mode = S_IFCHR | (e.mode ?? 0o600);
        rmaj = e.major;
        rmin = e.minor;
        break;
      case "trailer":
        nlink = 1;
        break;
    }
    const namesize = enc.encode(name).length + 1;
    push(header({ ino: e.type === "trailer" ? 0 : ino++, mode, nlink, size: data.length, rmaj, rmin, namesize }), name, data);
  }
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
