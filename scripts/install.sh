#!/usr/bin/env bash
# Install Corral on this host under /opt/corral with its systemd units.
#   sudo scripts/install.sh master|agent
set -euo pipefail
role=${1:?usage: install.sh master|agent}
case "$role" in master|agent) ;; *) echo "usage: install.sh master|agent" >&2; exit 2 ;; esac
src=$(cd "$(dirname "$0")/.." && pwd)
if [ "$src" != /opt/corral ]; then
  mkdir -p /opt/corral
  cp -a "$src"/. /opt/corral/
fi
cd /opt/corral
npm ci
npm run build
install -m 0644 "scripts/systemd/corral-$role.service" "/etc/systemd/system/corral-$role.service"
[ -e "/etc/default/corral-$role" ] || install -m 0644 "scripts/systemd/corral-$role.default" "/etc/default/corral-$role"
mkdir -p "/var/lib/corral/$role"
systemctl daemon-reload
echo "Edit /etc/default/corral-$role, then: systemctl enable --now corral-$role"
