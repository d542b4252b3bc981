/** A lab VM's QEMU command line and the lab's probe commands inside a VM. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { qemuArgs, vmMac } from "./qemu.js";
import { vmProbeCommand, vmTap } from "../lab/vms.js";

test("qemu: the tap is attached, not made; no address on the kernel command line", () => {
  assert.deepEqual(
    qemuArgs({ name: "h1-vm1", kernel: "/boot/vmlinuz-x", initrd: "/l/i.gz", tap: "taph1vm1", mac: vmMac(1, 1), console: "/l/c", shell: "/l/s", accel: "tcg" }),
    [
      "-accel",
      "tcg",
      "-name",
      "h1-vm1",
      "-m",
      "160",
      "-smp",
      "1",
      "-nodefaults",
      "-no-user-config",
      "-display",
      "none",
      "-no-reboot",
      "-kernel",
      "/boot/vmlinuz-x",
      "-initrd",
      "/l/i.gz",
      "-append",
      "console=ttyS0 quiet panic=-1 tabby.name=h1-vm1",
      "-serial",
      "file:/l/c",
      "-chardev",
      "socket,id=shell,path=/l/s,server=on,wait=off",
      "-device",
      "isa-serial,chardev=shell",
      "-netdev",
      "tap,id=net0,ifname=taph1vm1,script=no,downscript=no",
      "-device",
      "virtio-net-pci,netdev=net0,mac=52:54:00:7a:01:01",
    ],
  );
  assert.equal(qemuArgs({ name: "v", kernel: "k", initrd: "i", tap: "t", mac: "m", console: "c", shell: "s", accel: "kvm" })[0], "-enable-kvm");
});

test("lab VMs: tap names fit IFNAMSIZ; probes are busybox commands", () => {
  assert.equal(vmTap("h12", 3), "taph12vm3");
  assert.throws(() => vmTap("h123456789", 10), { code: "LAB_BAD_SHAPE" });
  assert.match(vmProbeCommand({ name: "h2-w1", family: 6, address: "fd65::1", protocol: "icmp" }), /^\{ ping -6 -c 1 -W 3 fd65::1 /);
  assert.match(vmProbeCommand({ name: "h2-w1", family: 4, address: "10.65.0.1", protocol: "tcp", port: 80 }), /nc -w 4 10\.65\.0\.1 80 .*for n in "h2-w1"/);
});
