#!/bin/sh
# /usr/bin/corral: runs Corral (/usr/lib/corral) with Node.js 20 or later. The node is
# $CORRAL_NODE, else CORRAL_NODE from /etc/default/corral, else `node` in PATH (Debian's
# nodejs package, which the package depends on).
node="${CORRAL_NODE:-}"
if [ -z "$node" ] && [ -r /etc/default/corral ]; then
  node=$(sed -n 's/^[[:space:]]*CORRAL_NODE=["'\'']\{0,1\}\([^"'\'']*\)["'\'']\{0,1\}[[:space:]]*$/\1/p' /etc/default/corral | tail -n 1)
fi
unset CORRAL_NODE
if [ -z "$node" ]; then
  node=$(command -v node || true)
fi
if [ -z "$node" ] || [ ! -x "$node" ]; then
  echo "corral: no Node.js found (install Debian's nodejs 20 or later, or set CORRAL_NODE=/path/to/node in /etc/default/corral)" >&2
  exit 2
fi
exec "$node" "${CORRAL_HOME:-/usr/lib/corral}/bin/corral.js" "$@"
