#!/bin/sh
# /usr/bin/corral: runs Corral (/usr/lib/corral) with Node.js 20 or later. The node is
# $CORRAL_NODE, else CORRAL_NODE from /etc/default/corral, else `node` in PATH (Debian's
# nodejs package when it is 20 or later, as on Debian 13; Debian 12's is 18).
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
# Node.js 20 or later: Debian 12's own nodejs is 18, too old (README: Installing names the ways to a Node 20).
major=$("$node" -p 'process.versions.node.split(".")[0]' 2>/dev/null || true)
case "$major" in
'' | *[!0-9]*) old=yes ;;
*) if [ "$major" -lt 20 ]; then old=yes; else old=no; fi ;;
esac
if [ "$old" = yes ]; then
  echo "corral: $node is Node.js $("$node" --version 2>/dev/null | head -n 1); Corral needs 20 or later: set CORRAL_NODE=/path/to/node in /etc/default/corral" >&2
  exit 2
fi
# `corral --check-node`: prints the Node.js it would use (the package's postinst asks).
if [ "${1:-}" = "--check-node" ]; then
  echo "$node"
  exit 0
fi
exec "$node" "${CORRAL_HOME:-/usr/lib/corral}/bin/corral.js" "$@"
