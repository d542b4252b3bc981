/**
 * Whether KVM works here: /dev/kvm can be present and answer its API-version ioctl while guests
 * still cannot run (nested virtualisation that hangs the guest, or QEMU refusing the host CPU's
 * MSRs). Two probes under `-enable-kvm`: a 512-byte boot sector that writes "K" to the first
 * serial port (a few seconds), then — because a real-mode sector can run where a Linux guest
 * still hangs (seen on this project's CI machines) — the lab's own kernel and initramfs, booted
 * until the kernel says it runs init. KVM only if both answer in time; TCG otherwise.
 * TABBY_LAB_VM_ACCEL=kvm|tcg overrides. The verdict is kept in a file (`vmAccelCached`: the lab
 * root's kvm-probe.json) for the host kernel, QEMU version and guest kernel image it was found
 * with, so the next `lab up --vms` does not boot the probes again (up to 20 s where KVM hangs);
 * TABBY_LAB_VM_ACCEL=probe probes again and replaces it. Shell (runs QEMU up to twice per probe).
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { release, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { TabbyError } from "../errors.js";

/** The boot sector: mov dx,0x3f8; mov al,'K'; out dx,al; mov al,10; out dx,al; cli; hlt; jmp hlt. Pure. */
export function probeBootSector(): Uint8Array {
  const b = new Uint8Array(512);
  b.set([0xba, 0xf8, 0x03, 0xb0, 0x4b, 0xee, 0xb0, 0x0a, 0xee, 0xfa, 0xf4, 0xeb, 0xfd], 0);
  b[510] = 0x55;
  b[511] = 0xaa;
  return b;
}

/** What the kernel probe boots: the lab's kernel image and initramfs. */
export interface KernelProbe {
  kernel: string;
  initrd: string;
}

export type Accel = "kvm" | "tcg";

/** The file, in the lab root, that keeps the probe's verdict. */
export const KVM_PROBE_FILE = "kvm-probe.json";

/** TABBY_LAB_VM_ACCEL: kvm or tcg (forced), probe (probe again), unset; anything else is refused (LAB_BAD_VM_ACCEL). */
function accelOverride(env: NodeJS.ProcessEnv): Accel | "probe" | undefined {
  const v = env["TABBY_LAB_VM_ACCEL"];
  if (v === undefined || v === "") return undefined;
  if (v === "kvm" || v === "tcg" || v === "probe") return v;
  throw new TabbyError("LAB_BAD_VM_ACCEL", `TABBY_LAB_VM_ACCEL must be kvm, tcg or probe, not ${JSON.stringify(v)}`);
}

export async function vmAccel(env: NodeJS.ProcessEnv = process.env, kernel?: KernelProbe, timeoutMs = 4000, kernelTimeoutMs = 20_000): Promise<Accel> {
  const forced = accelOverride(env);
  if (forced === "kvm" || forced === "tcg") return forced;
  if (!existsSync("/dev/kvm")) return "tcg";
  const dir = mkdtempSync(join(tmpdir(), "tabby-kvm-"));
  try {
    writeFileSync(join(dir, "boot.img"), probeBootSector());
    const sector = ["-drive", `file=${join(dir, "boot.img")},format=raw,if=ide`];
    if (!(await bootsUnderKvm(sector, join(dir, "serial"), "K", timeoutMs))) return "tcg";
    if (!kernel) return "kvm";
    // no `quiet`: the kernel's "Run /bin/sh as init process" is the answer; sh then waits on the console
    const linux = ["-kernel", kernel.kernel, "-initrd", kernel.initrd, "-append", "console=ttyS0 panic=-1 rdinit=/bin/sh", "-no-reboot"];
    return (await bootsUnderKvm(linux, join(dir, "console"), "as init process", kernelTimeoutMs)) ? "kvm" : "tcg";
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs QEMU with KVM and `args` until `mark` shows on the first serial port (true) or the time is up (false). */
async function bootsUnderKvm(args: string[], out: string, mark: string, timeoutMs: number): Promise<boolean> {
  const p = spawn("qemu-system-x86_64", ["-enable-kvm", "-nodefaults", "-no-user-config", "-display", "none", "-m", "128", ...args, "-serial", `file:${out}`], {
    stdio: "ignore",
  });
  const exited = new Promise<void>((resolve) => p.on("close", () => resolve()));
  let ok = false;
  for (let t = 0; t < timeoutMs && p.exitCode === null; t += 100) {
    await new Promise((r) => setTimeout(r, 100));
    if (existsSync(out) && readFileSync(out, "utf8").includes(mark)) {
      ok = true;
      break;
    }
  }
  if (p.exitCode === null) p.kill("SIGKILL");
  await exited;
  return ok;
}

/** What a kept verdict depends on: the host kernel, QEMU's version, the guest kernel image (path, size, time). Pure. */
export function probeKey(hostRelease: string, qemuVersion: string, kernelImage?: { path: string; size: number; mtimeMs: number }): string {
  const guest = kernelImage ? `${kernelImage.path} ${kernelImage.size} ${Math.round(kernelImage.mtimeMs)}` : "none";
  return `host ${hostRelease}; ${qemuVersion}; guest ${guest}`;
}

/** The effects of vmAccelCached, injected so tests stand in. */
export interface AccelProbeDeps {
  hasKvm(): boolean;
  /** The first line of `qemu-system-x86_64 --version`. */
  qemuVersion(): string;
  hostRelease(): string;
  probe(kernel?: KernelProbe): Promise<Accel>;
}

const realDeps: AccelProbeDeps = {
  hasKvm: () => existsSync("/dev/kvm"),
  qemuVersion: () => (spawnSync("qemu-system-x86_64", ["--version"], { encoding: "utf8" }).stdout ?? "").split("\n")[0]!.trim(),
  hostRelease: () => release(),
  probe: (kernel) => vmAccel({}, kernel),
};

interface KeptVerdict {
  key: string;
  accel: Accel;
  probedAt: string;
}

/**
 * vmAccel, with the verdict kept in `cacheFile` for what it depends on (probeKey): the same host
 * kernel, QEMU and guest kernel image give the kept verdict without booting anything
 * (`cached: true`); TABBY_LAB_VM_ACCEL=probe probes again and keeps the new verdict; kvm or tcg
 * is used as is (nothing kept). Without /dev/kvm: TCG, nothing to probe or keep.
 */
export async function vmAccelCached(
  env: NodeJS.ProcessEnv,
  kernel: KernelProbe | undefined,
  cacheFile: string,
  deps: AccelProbeDeps = realDeps,
): Promise<{ accel: Accel; cached: boolean }> {
  const override = accelOverride(env);
  if (override === "kvm" || override === "tcg") return { accel: override, cached: false };
  if (!deps.hasKvm()) return { accel: "tcg", cached: false };
  let image: { path: string; size: number; mtimeMs: number } | undefined;
  if (kernel) {
    try {
      const st = statSync(kernel.kernel);
      image = { path: kernel.kernel, size: st.size, mtimeMs: st.mtimeMs };
    } catch {
      image = { path: kernel.kernel, size: -1, mtimeMs: 0 };
    }
  }
  const key = probeKey(deps.hostRelease(), deps.qemuVersion(), image);
  if (override !== "probe") {
    try {
      const kept = JSON.parse(readFileSync(cacheFile, "utf8")) as Partial<KeptVerdict>;
      if (kept.key === key && (kept.accel === "kvm" || kept.accel === "tcg")) return { accel: kept.accel, cached: true };
    } catch {
      // none kept yet, or unreadable: probe
    }
  }
  const accel = await deps.probe(kernel);
  const kept: KeptVerdict = { key, accel, probedAt: new Date().toISOString() };
  mkdirSync(dirname(cacheFile), { recursive: true });
  writeFileSync(cacheFile, JSON.stringify(kept, null, 2) + "\n");
  return { accel, cached: false };
}
