#!/usr/bin/env bash
# Installs what tabby needs on a Debian machine, as root: the kernel tools it drives, the BGP
# peers and etcd its tests run against, a maintained Node.js LTS (scripts/install-node.sh, from
# the npm registry, under /opt/tabby-node) and its npm packages for that Node. Safe to run again:
# it installs only what is missing. Chromium (headless) drives the map's browser test
# (test/ui-map.test.ts).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for pair in npm:npm ip:iproute2 nft:nftables ping:iputils-ping bird:bird2 gobgpd:gobgpd etcd:etcd-server iperf3:iperf3 nsenter:util-linux podman:podman runc:runc busybox:busybox-static containerd:containerd chromium:chromium zsh:zsh; do
  cmd=${pair%%:*} pkg=${pair#*:}
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || need+=("$pkg")
done
[ -x /usr/lib/cni/portmap ] || need+=(containernetworking-plugins)
# VMs in the lab (docs/vms.md): QEMU, Debian's kernel in /boot, dhcpcd for the guest's DHCPv6
command -v qemu-system-x86_64 >/dev/null 2>&1 || need+=(qemu-system-x86)
ls /boot/vmlinuz-* >/dev/null 2>&1 || need+=(linux-image-amd64)
[ -x /usr/sbin/dhcpcd ] || need+=(dhcpcd-base)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi

# Daemons the tests start themselves, one per namespace: their packages' own services must not
# start at install time (a policy-rc.d that says no, only while they install).
install_without_service() {
  echo "installing Debian package(s): $* (service not started)"
  export DEBIAN_FRONTEND=noninteractive
  local made_policy="" status=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && made_policy=1
  fi
  apt-get update -qq
  apt-get install -y -qq "$@" >/dev/null || status=$?
  if [ -n "$made_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi
  return "$status"
}
# FRR (bgpd, bfdd, zebra, vtysh): interop tests and the fabric lab's ToRs.
if ! [ -x /usr/lib/frr/bgpd ] || ! command -v vtysh >/dev/null 2>&1; then install_without_service frr; fi
# Docker (dockerd): test/docker-daemon.test.ts starts its own per namespace (docs/docker.md).
if ! [ -x /usr/sbin/dockerd ]; then install_without_service --no-install-recommends docker.io; fi

# Node.js 24 LTS (the machines' Node 20 is out of maintenance); everything below runs on it.
bash scripts/install-node.sh >/dev/null
. scripts/node-env.sh
# npm packages, again whenever the lock changed or they were installed for another Node.
stamp=node_modules/.tabby-node-version
if [ ! -d node_modules/better-sqlite3 ] || [ package-lock.json -nt node_modules/.package-lock.json ] || [ "$(cat "$stamp" 2>/dev/null)" != "$(node --version)" ]; then
  echo "installing npm packages for Node.js $(node --version)"
  npm ci --no-audit --no-fund --loglevel=error
  node --version >"$stamp"
fi
npx tsc -p .
node scripts/build-cni.mjs
