/** The initramfs's module order (from modules.dep) and its contents. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { initramfsEntries, moduleLoadOrder } from "./initramfs.js";

const DEP = `kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/virtio/virtio_pci_modern_dev.ko:
kernel/drivers/virtio/virtio_pci_legacy_dev.ko:
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_legacy_dev.ko kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko
kernel/net/core/failover.ko:
`;

test("initramfs: modules load dependencies first, each once", () => {
  const order = moduleLoadOrder(DEP, ["kernel/drivers/virtio/virtio_pci.ko", "kernel/drivers/net/virtio_net.ko"]).map((m) => m.split("/").pop());
  assert.deepEqual(order, [
    "virtio_pci_legacy_dev.ko",
    "virtio_pci_modern_dev.ko",
    "virtio_ring.ko",
    "virtio.ko",
    "virtio_pci.ko",
    "failover.ko",
    "net_failover.ko",
    "virtio_net.ko",
  ]);
  assert.throws(() => moduleLoadOrder(DEP, ["kernel/none.ko"]), { code: "LAB_VM_DEPENDENCY" });
});

test("initramfs: /init loads the modules in order; no address on any command line", () => {
  const entries = initramfsEntries({
    busybox: new Uint8Array(1),
    modules: [
      ["virtio_ring.ko", new Uint8Array(1)],
      ["virtio.ko", new Uint8Array(1)],
    ],
    dhcpcd: new Uint8Array(1),
    libs: [["/lib64/ld-linux-x86-64.so.2", new Uint8Array(1)]],
    ports: [80, 8080],
  });
  const init = entries.find((e) => e.path === "init");
  assert.ok(init && init.type === "file");
  const text = new TextDecoder().decode(init.data);
  assert.ok(text.indexOf("insmod /lib/modules/virtio_ring.ko") < text.indexOf("insmod /lib/modules/virtio.ko"));
  assert.match(text, /udhcpc -i eth0/);
  assert.match(text, /nc -ll -p 80 /);
  assert.match(text, /nc -ll -p 8080 /);
  assert.ok(
    entries.some((e) => e.path === "lib64" && e.type === "dir"),
    "directories of the libraries are made",
  );
  const dirs = entries.filter((e) => e.type === "dir").map((e) => e.path);
  assert.deepEqual(dirs, [...dirs].sort(), "directories before what they hold");
});
