/**
 * Whether KVM works here: /dev/kvm can be present and answer its API-version ioctl while guests
 * still cannot run (nested virtualisation that hangs the guest, or QEMU refusing the host CPU's
 * MSRs). Two probes under `-enable-kvm`: a 512-byte boot sector that writes "K" to the first
 * serial port (a few seconds), then — because a real-mode sector can run where a Linux guest
 * still hangs (seen on this project's CI machines) — the lab's own kernel and initramfs, booted
 * until the kernel says it runs init. KVM only if both answer in time; TCG otherwise.
 * TABBY_LAB_VM_ACCEL=kvm|tcg overrides. Shell (runs QEMU up to twice per `lab up`).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn } from "node:child_process";

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

export async function vmAccel(env: NodeJS.ProcessEnv = process.env, kernel?: KernelProbe, timeoutMs = 4000, kernelTimeoutMs = 20_000): Promise<"kvm" | "tcg"> {
  const forced = env["TABBY_LAB_VM_ACCEL"];
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
