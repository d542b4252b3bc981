/**
 * Whether KVM works here: /dev/kvm can be present and answer its API-version ioctl while guests
 * still cannot run (nested virtualisation that hangs the guest, or QEMU refusing the host CPU's
 * MSRs), so the lab boots a 512-byte boot sector under `-enable-kvm` that writes "K" to the
 * first serial port, and takes KVM only if the "K" arrives within a few seconds; TCG otherwise.
 * TABBY_LAB_VM_ACCEL=kvm|tcg overrides. Shell (runs QEMU once per `lab up`).
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

export async function vmAccel(env: NodeJS.ProcessEnv = process.env, timeoutMs = 4000): Promise<"kvm" | "tcg"> {
  const forced = env["TABBY_LAB_VM_ACCEL"];
  if (forced === "kvm" || forced === "tcg") return forced;
  if (!existsSync("/dev/kvm")) return "tcg";
  const dir = mkdtempSync(join(tmpdir(), "tabby-kvm-"));
  try {
    writeFileSync(join(dir, "boot.img"), probeBootSector());
    const out = join(dir, "serial");
    const p = spawn(
      "qemu-system-x86_64",
      [
        "-enable-kvm",
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-m",
        "16",
        "-drive",
        `file=${join(dir, "boot.img")},format=raw,if=ide`,
        "-serial",
        `file:${out}`,
      ],
      { stdio: "ignore" },
    );
    const exited = new Promise<void>((resolve) => p.on("close", () => resolve()));
    let ok = false;
    for (let t = 0; t < timeoutMs && p.exitCode === null; t += 100) {
      await new Promise((r) => setTimeout(r, 100));
      if (existsSync(out) && readFileSync(out, "utf8").includes("K")) {
        ok = true;
        break;
      }
    }
    if (p.exitCode === null) p.kill("SIGKILL");
    await exited;
    return ok ? "kvm" : "tcg";
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
