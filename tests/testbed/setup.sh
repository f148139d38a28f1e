#!/bin/bash
# setup.sh [--packages-only | --rootfs-only] -- prepare this machine for the test bed.
#
#   (no option)       apt packages, then the node rootfs
#   --packages-only   only `apt-get install` the tools the bed needs (CI calls this)
#   --rootfs-only     only build the node rootfs (build-rootfs.sh; a no-op when the
#                     cached rootfs matches the current recipe)
#
# Needs root and apt (Debian 12). Creates /usr/sbin/policy-rc.d (exit 101) when it is
# missing so that package scripts never start daemons (sshd, ...) on the machine.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
PKGS=1; ROOTFS=1
case ${1:-} in
  --packages-only) ROOTFS=0 ;;
  --rootfs-only) PKGS=0 ;;
  "") ;;
  *) echo "usage: $0 [--packages-only|--rootfs-only]" >&2; exit 2 ;;
esac
[ "$(id -u)" = 0 ] || { echo "setup.sh: must run as root" >&2; exit 1; }

if [ "$PKGS" = 1 ]; then
  export DEBIAN_FRONTEND=noninteractive
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends \
    iproute2 iptables util-linux openssh-client systemd-container mmdebstrap zstd >/dev/null
fi
if [ "$ROOTFS" = 1 ]; then
  "$HERE/build-rootfs.sh"
fi
