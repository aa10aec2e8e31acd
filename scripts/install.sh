#!/usr/bin/env bash
# Install Corral on this host as its Debian package: the .deb given, else one built here with
# `npm run package` (which needs this checkout built: npm install). The host it is installed on
# needs only Node.js 20+ (Debian's nodejs package); apt-get installs the dependencies.
#   sudo scripts/install.sh [path/to/corral_VERSION_ARCH.deb]
# Then edit /etc/corral/master/* or /etc/corral/agent/* and: systemctl enable --now corral-master
# (or corral-agent). Upgrade: the same with a newer package. Remove: apt-get remove corral
# (keeps /etc/corral and /var/lib/corral) or apt-get purge corral (removes them).
set -euo pipefail
cd "$(dirname "$0")/.."
deb=${1:-}
if [ -z "$deb" ]; then
  deb=$(npm run package --silent | tail -n 1)
fi
apt-get install -y "$(realpath "$deb")"
