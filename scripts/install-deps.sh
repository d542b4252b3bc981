#!/usr/bin/env bash
# Installs what tabby needs on a Debian machine, as root: the kernel tools it drives, the BGP
# peers and etcd its tests run against, and its npm packages. Safe to run again: it installs
# only what is missing. Chromium (headless) drives the map's browser test (test/ui-map.test.ts).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for pair in ip:iproute2 nft:nftables ping:iputils-ping bird:bird2 gobgpd:gobgpd etcd:etcd-server iperf3:iperf3 nsenter:util-linux podman:podman runc:runc busybox:busybox-static containerd:containerd chromium:chromium; do
  cmd=${pair%%:*} pkg=${pair#*:}
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || need+=("$pkg")
done
[ -x /usr/lib/cni/portmap ] || need+=(containernetworking-plugins)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi

# FRR (bgpd, vtysh) for test/bgp-interop-frr.test.ts, which runs its own bgpd per namespace: keep
# the package's service from starting at install time (a policy-rc.d that says no, only for this).
if ! [ -x /usr/lib/frr/bgpd ] || ! command -v vtysh >/dev/null 2>&1; then
  echo "installing Debian package: frr (service not started)"
  export DEBIAN_FRONTEND=noninteractive
  made_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && made_policy=1
  fi
  apt-get update -qq
  status=0
  apt-get install -y -qq frr >/dev/null || status=$?
  if [ -n "$made_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi
  [ "$status" -eq 0 ] || exit "$status"
fi

if [ ! -d node_modules/better-sqlite3/build ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "installing npm packages"
  npm ci --no-audit --no-fund --loglevel=error
fi
npx tsc -p .
node scripts/build-cni.mjs
