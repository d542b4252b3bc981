# Sourced by the scripts (not run): puts the Node.js tabby runs on (scripts/install-node.sh,
# under $TABBY_NODE_PREFIX, default /opt/tabby-node) first on PATH, and points node-gyp at its
# headers so a native addon that must compile never downloads them from nodejs.org.
TABBY_NODE_PREFIX=${TABBY_NODE_PREFIX:-/opt/tabby-node}
export TABBY_NODE_PREFIX
export PATH="$TABBY_NODE_PREFIX/bin:$PATH"
export npm_config_nodedir="$TABBY_NODE_PREFIX"
