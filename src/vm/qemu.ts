/**
 * How a lab VM is started (issue 20): QEMU with Debian's kernel and the lab initramfs, one
 * virtio-net NIC on a tap that already exists in the host's network namespace (`-netdev tap,
 * ifname=…,script=no,downscript=no`: QEMU only attaches; the lab made the tap and brings it up),
 * the console (ttyS0) to a file and a shell on ttyS1 behind a unix socket (serial-shell.ts), no
 * display, no disk, no reboot. `-enable-kvm` when KVM was found to work (accel.ts), TCG
 * otherwise. Pure: the argument list.
 */

export interface VmLaunch {
  name: string;
  kernel: string;
  initrd: string;
  tap: string;
  mac: string;
  /** File the console (ttyS0) is written to. */
  console: string;
  /** Unix socket of the shell on ttyS1. */
  shell: string;
  accel: "kvm" | "tcg";
  memoryMb?: number;
}

export function qemuArgs(v: VmLaunch): string[] {
  return [
    ...(v.accel === "kvm" ? ["-enable-kvm"] : ["-accel", "tcg"]),
    "-name",
    v.name,
    "-m",
    String(v.memoryMb ?? 160),
    "-smp",
    "1",
    "-nodefaults",
    "-no-user-config",
    "-display",
    "none",
    "-no-reboot",
    "-kernel",
    v.kernel,
    "-initrd",
    v.initrd,
    "-append",
    `console=ttyS0 quiet panic=-1 tabby.name=${v.name}`,
    "-serial",
    `file:${v.console}`,
    "-chardev",
    `socket,id=shell,path=${v.shell},server=on,wait=off`,
    "-device",
    "isa-serial,chardev=shell",
    "-netdev",
    `tap,id=net0,ifname=${v.tap},script=no,downscript=no`,
    "-device",
    `virtio-net-pci,netdev=net0,mac=${v.mac}`,
  ];
}

/** A locally administered unicast MAC in QEMU's 52:54:00 range for host `h`, VM `j` (1-based). */
export function vmMac(h: number, j: number): string {
  return `52:54:00:7a:${(h & 0xff).toString(16).padStart(2, "0")}:${(j & 0xff).toString(16).padStart(2, "0")}`;
}
