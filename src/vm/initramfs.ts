/**
 * Builds a lab VM's initramfs at `lab up` (issue 20): Debian's busybox-static (shell, udhcpc, nc,
 * ip), the virtio-net modules of the kernel in /boot, dhcpcd with the two libraries it links
 * (DHCPv6), and the scripts of init-script.ts, as a gzip'd newc cpio (cpio.ts). `vmKernel` finds
 * Debian's kernel. Shell (reads files); the entry list is pure (`initramfsEntries`).
 */
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { basename } from "node:path";
import { gzipSync } from "node:zlib";
import { TabbyError } from "../errors.js";
import { encodeCpio, type CpioEntry } from "./cpio.js";
import { DHCPCD_CONF, GROUP, PASSWD, UDHCPC_SCRIPT, VM_MODULES, initScript } from "./init-script.js";

export interface VmKernel {
  /** /boot/vmlinuz-<release>. */
  image: string;
  release: string;
  /** /lib/modules/<release>. */
  modules: string;
}

/** The newest Debian kernel in /boot with its modules; LAB_NO_VM_KERNEL names the package otherwise. */
export function vmKernel(boot = "/boot", libModules = "/lib/modules"): VmKernel {
  const releases = (existsSync(boot) ? readdirSync(boot) : [])
    .filter((f) => f.startsWith("vmlinuz-"))
    .map((f) => f.slice("vmlinuz-".length))
    .filter((r) => existsSync(`${libModules}/${r}/kernel/drivers/net/virtio_net.ko`))
    .sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
  const release = releases.pop();
  if (!release)
    throw new TabbyError(
      "LAB_NO_VM_KERNEL",
      `no kernel in ${boot} with virtio_net in ${libModules}: install Debian's linux-image-amd64 (scripts/install-deps.sh)`,
    );
  return { image: `${boot}/vmlinuz-${release}`, release, modules: `${libModules}/${release}` };
}

export interface InitramfsInputs {
  busybox: Uint8Array;
  /** Module file name → bytes, in load order. */
  modules: [string, Uint8Array][];
  dhcpcd: Uint8Array;
  /** Shared libraries dhcpcd needs: path in the VM → bytes. */
  libs: [string, Uint8Array][];
  ports: readonly number[];
}

/** The archive's entries. Pure. */
export function initramfsEntries(i: InitramfsInputs): CpioEntry[] {
  const enc = new TextEncoder();
  const dirs = new Set(["bin", "sbin", "dev", "etc", "lib", "lib/modules", "proc", "sys", "run", "tmp", "var", "var/lib", "var/lib/dhcpcd", "var/run"]);
  for (const [p] of i.libs) {
    const parts = p.replace(/^\/+/, "").split("/").slice(0, -1);
    for (let k = 1; k <= parts.length; k++) dirs.add(parts.slice(0, k).join("/"));
  }
  const out: CpioEntry[] = [...dirs].sort().map((path) => ({ type: "dir", path }));
  out.push(
    { type: "chardev", path: "dev/console", major: 5, minor: 1 },
    { type: "file", path: "bin/busybox", data: i.busybox, mode: 0o755 },
    { type: "symlink", path: "bin/sh", target: "busybox" },
    { type: "file", path: "sbin/dhcpcd", data: i.dhcpcd, mode: 0o755 },
    {
      type: "file",
      path: "init",
      data: enc.encode(
        initScript(
          i.ports,
          i.modules.map(([n]) => n),
        ),
      ),
      mode: 0o755,
    },
    { type: "file", path: "etc/udhcpc.script", data: enc.encode(UDHCPC_SCRIPT), mode: 0o755 },
    { type: "file", path: "etc/dhcpcd.conf", data: enc.encode(DHCPCD_CONF) },
    { type: "file", path: "etc/passwd", data: enc.encode(PASSWD) },
    { type: "file", path: "etc/group", data: enc.encode(GROUP) },
  );
  for (const [name, data] of i.modules) out.push({ type: "file", path: `lib/modules/${name}`, data });
  for (const [p, data] of i.libs) out.push({ type: "file", path: p.replace(/^\/+/, ""), data, mode: 0o755 });
  return out;
}

/**
 * The modules to load for `wanted`, dependencies first, from modules.dep text ("path: dep dep").
 * Pure.
 */
export function moduleLoadOrder(modulesDep: string, wanted: readonly string[]): string[] {
  const deps = new Map<string, string[]>();
  for (const line of modulesDep.split("\n")) {
    const i = line.indexOf(":");
    if (i > 0)
      deps.set(
        line.slice(0, i),
        line
          .slice(i + 1)
          .trim()
          .split(/\s+/)
          .filter(Boolean),
      );
  }
  const out: string[] = [];
  const visit = (m: string, path: string[]) => {
    if (out.includes(m)) return;
    if (path.includes(m)) throw new TabbyError("LAB_BAD_INITRAMFS", `modules.dep has a cycle: ${[...path, m].join(" -> ")}`);
    const d = deps.get(m);
    if (!d) throw new TabbyError("LAB_VM_DEPENDENCY", `module ${m} is not in modules.dep`);
    for (const x of d) visit(x, [...path, m]);
    out.push(m);
  };
  for (const w of wanted) visit(w, []);
  return out;
}

function need(path: string, pkg: string): Uint8Array {
  if (!existsSync(path)) throw new TabbyError("LAB_VM_DEPENDENCY", `${path} is missing: install Debian's ${pkg} (scripts/install-deps.sh)`, { path });
  return readFileSync(path);
}

/** Writes the gzip'd initramfs to `out` for `kernel`; the responder listens on `ports`. */
export function buildInitramfs(kernel: VmKernel, out: string, ports: readonly number[]): void {
  const libs: [string, Uint8Array][] = [
    ["/lib/x86_64-linux-gnu/libc.so.6", need("/lib/x86_64-linux-gnu/libc.so.6", "libc6")],
    ["/lib64/ld-linux-x86-64.so.2", need("/lib64/ld-linux-x86-64.so.2", "libc6")],
  ];
  const entries = initramfsEntries({
    busybox: need("/bin/busybox", "busybox-static"),
    modules: moduleLoadOrder(readFileSync(`${kernel.modules}/modules.dep`, "utf8"), VM_MODULES).map((m) => [
      basename(m),
      need(`${kernel.modules}/${m}`, `linux-image-${kernel.release}`),
    ]),
    dhcpcd: need("/usr/sbin/dhcpcd", "dhcpcd-base"),
    libs,
    ports,
  });
  writeFileSync(out, gzipSync(encodeCpio(entries), { level: 1 }));
}
