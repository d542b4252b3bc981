import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { probeKey, vmAccelCached, type Accel, type AccelProbeDeps } from "./accel.js";
import { TabbyError } from "../errors.js";

function fake(verdict: Accel) {
  const d = {
    probes: 0,
    kvm: true,
    qemu: "QEMU emulator version 7.2.0",
    host: "6.18.0",
    verdict,
  };
  const deps: AccelProbeDeps = {
    hasKvm: () => d.kvm,
    qemuVersion: () => d.qemu,
    hostRelease: () => d.host,
    probe: async () => {
      d.probes++;
      return d.verdict;
    },
  };
  return { d, deps };
}

test("KVM probe verdict: kept per host kernel, QEMU and guest kernel; probe again on request", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tabby-accel-"));
  try {
    const file = join(dir, "lab", "kvm-probe.json");
    const image = join(dir, "vmlinuz");
    writeFileSync(image, "kernel");
    const k = { kernel: image, initrd: join(dir, "initrd") };
    const { d, deps } = fake("tcg");
    assert.deepEqual(await vmAccelCached({}, k, file, deps), { accel: "tcg", cached: false });
    assert.deepEqual(await vmAccelCached({}, k, file, deps), { accel: "tcg", cached: true }, "kept: no boot");
    assert.equal(d.probes, 1);
    assert.equal(JSON.parse(readFileSync(file, "utf8")).accel, "tcg");
    // a new QEMU, a new host kernel, a new guest kernel: each probes again
    d.qemu = "QEMU emulator version 8.0.0";
    d.verdict = "kvm";
    assert.deepEqual(await vmAccelCached({}, k, file, deps), { accel: "kvm", cached: false });
    d.host = "6.19.0";
    await vmAccelCached({}, k, file, deps);
    writeFileSync(image, "another kernel");
    await vmAccelCached({}, k, file, deps);
    assert.equal(d.probes, 4);
    assert.deepEqual(await vmAccelCached({}, k, file, deps), { accel: "kvm", cached: true });
    // TABBY_LAB_VM_ACCEL=probe probes again and keeps the new verdict
    d.verdict = "tcg";
    assert.deepEqual(await vmAccelCached({ TABBY_LAB_VM_ACCEL: "probe" }, k, file, deps), { accel: "tcg", cached: false });
    assert.deepEqual(await vmAccelCached({}, k, file, deps), { accel: "tcg", cached: true });
    assert.equal(d.probes, 5);
    // forced: no probe; no /dev/kvm: TCG without a probe; a bad value is refused
    assert.deepEqual(await vmAccelCached({ TABBY_LAB_VM_ACCEL: "kvm" }, k, file, deps), { accel: "kvm", cached: false });
    d.kvm = false;
    assert.deepEqual(await vmAccelCached({ TABBY_LAB_VM_ACCEL: "probe" }, k, file, deps), { accel: "tcg", cached: false });
    assert.equal(d.probes, 5);
    await assert.rejects(
      vmAccelCached({ TABBY_LAB_VM_ACCEL: "fast" }, k, file, deps),
      (e: unknown) => e instanceof TabbyError && e.code === "LAB_BAD_VM_ACCEL",
    );
    // an unreadable kept file is probed over
    d.kvm = true;
    writeFileSync(file, "{not json");
    assert.deepEqual(await vmAccelCached({}, k, file, deps), { accel: "tcg", cached: false });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("probe key names what the verdict depends on", () => {
  assert.equal(
    probeKey("6.18.0", "QEMU emulator version 7.2.0", { path: "/boot/vmlinuz", size: 10, mtimeMs: 1000.4 }),
    "host 6.18.0; QEMU emulator version 7.2.0; guest /boot/vmlinuz 10 1000",
  );
  assert.equal(probeKey("6.18.0", "q", undefined), "host 6.18.0; q; guest none");
});
