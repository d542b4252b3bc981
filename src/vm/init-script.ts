/**
 * The scripts inside a lab VM's initramfs (issue 20): `/init` (mount, load the virtio NIC's
 * modules, address by DHCP, the probe responder, a shell on the second serial port) and the
 * busybox udhcpc hook. The VM learns its addresses only from the network: IPv4 by DHCP (busybox
 * udhcpc, honouring the classless static routes of option 121 — RFC 3442: the gateway on-link,
 * then the default route through it), IPv6 from the router advertisement (default route through
 * the host's link-local) and DHCPv6 (dhcpcd, its address as a /128). Nothing of the address is on
 * the kernel command line: only the VM's name (`tabby.name=`), for the probe responder's answer.
 * Pure: text only.
 */

/** The kernel modules the NIC needs (Debian builds virtio-net as modules); their dependencies
 * come from the kernel's modules.dep (initramfs.ts moduleLoadOrder). */
export const VM_MODULES = ["kernel/drivers/virtio/virtio_pci.ko", "kernel/drivers/net/virtio_net.ko"] as const;

/** The line /init prints on the console once the responder runs (what `lab up` waits for). */
export const READY_MARK = "TABBY-VM-READY";

/** /init: `ports` are the probe responder's TCP ports; `modules` the .ko files in load order. */
export function initScript(ports: readonly number[], modules: readonly string[]): string {
  const mods = modules.map((m) => `insmod /lib/modules/${m.split("/").pop()}`).join("\n");
  return `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/sbin
mkdir -p /proc /sys /dev /run /tmp /var/run /var/lib/dhcpcd /var/db /etc
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
${mods}
NAME=$(sed -n 's/.*tabby\\.name=\\([^ ]*\\).*/\\1/p' /proc/cmdline)
hostname "\${NAME:-vm}"
ip link set lo up
ip link set eth0 up
# IPv4: DHCP (busybox udhcpc; staticroutes = option 121, mtu = option 26)
udhcpc -i eth0 -s /etc/udhcpc.script -O staticroutes -O mtu -t 20 -T 1 -A 1 -b -S
# IPv6: router advertisement and DHCPv6 (dhcpcd; its own RA handling replaces the kernel's)
dhcpcd -6 -q -b -c /bin/true -f /etc/dhcpcd.conf eth0
# the lab's probe responder: every connection is answered with the VM's name
${ports.map((p) => `nc -ll -p ${p} -e echo "\${NAME:-vm}" &`).join("\n")}
# a shell on the second serial port (lab vm exec)
setsid sh -c 'stty -echo -F /dev/ttyS1 2>/dev/null; exec sh </dev/ttyS1 >/dev/ttyS1 2>&1' &
# ready once DHCP gave an IPv4 address and DHCPv6 an IPv6 one (at most 60 s)
i=0
while [ $i -lt 600 ]; do
  ip -4 addr show dev eth0 | grep -q 'inet ' && ip -6 addr show dev eth0 scope global | grep -q 'inet6 ' && break
  sleep 0.1; i=$((i+1))
done
echo "${READY_MARK} $(ip -o addr show dev eth0 | tr -s ' ' | cut -d' ' -f3,4 | tr '\\n' ' ')" > /dev/console
while :; do sleep 3600; done
`;
}

/** busybox udhcpc's hook: the lease's address as given (a /32), its MTU, routes and DNS. */
export const UDHCPC_SCRIPT = `#!/bin/sh
case "$1" in
  deconfig)
    ip -4 addr flush dev "$interface"
    ip link set "$interface" up
    ;;
  bound|renew)
    ip -4 addr flush dev "$interface"
    ip addr add "$ip/\${mask:-32}" dev "$interface"
    [ -n "$mtu" ] && ip link set "$interface" mtu "$mtu"
    if [ -n "$staticroutes" ]; then
      set -- $staticroutes
      while [ $# -ge 2 ]; do
        if [ "$2" = 0.0.0.0 ]; then ip route replace "$1" dev "$interface" scope link; else ip route replace "$1" via "$2" dev "$interface"; fi
        shift 2
      done
    else
      for r in $router; do ip route replace "$r" dev "$interface" scope link; ip route replace default via "$r" dev "$interface"; done
    fi
    : > /etc/resolv.conf
    for d in $dns; do echo "nameserver $d" >> /etc/resolv.conf; done
    echo "dhcp4 $ip/\${mask:-32} mtu=\${mtu:-} routes=\${staticroutes:-}" > /dev/console
    ;;
esac
exit 0
`;

/** dhcpcd: IPv6 only, an address by DHCPv6 (IA_NA) as the RA's managed flag asks, no hooks. */
export const DHCPCD_CONF = `ipv6only
ia_na
option rapid_commit
nohook resolv.conf
`;

/** /etc/passwd and /etc/group: dhcpcd drops privileges to its own user. */
export const PASSWD = "root:x:0:0:root:/:/bin/sh\ndhcpcd:x:100:65534:dhcpcd:/var/lib/dhcpcd:/bin/false\n";
export const GROUP = "root:x:0:\nnogroup:x:65534:\n";
