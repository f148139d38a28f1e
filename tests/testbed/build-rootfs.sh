#!/bin/bash
# build-rootfs.sh [DIR] -- build the shared node root filesystem (Debian bookworm,
# mmdebstrap) that every test host uses as the read-only lower layer of its overlay.
#
#   DIR  default $TB_ROOTFS, i.e. /var/lib/testbed/rootfs
#
# Skips the build when DIR holds a rootfs built from the same recipe. The recipe is
# this script plus everything under rootfs-files/; its sha256 is stored in
# DIR/etc/testbed-recipe. When the recipe changed, the rootfs is rebuilt (into
# DIR.new, then swapped in) -- unless a test host still runs on it: then it warns
# and keeps the old one until no host is left.
#
# Needs root, mmdebstrap and access to deb.debian.org (apt only). ~45 s, ~175 MB.
# Contents: openssh-server, systemd, dbus, iproute2, iptables, conntrack, procps,
# kmod, ca-certificates, sudo; users tbuser and tbsudo (password "tbpass"; see
# rootfs-files/etc/sudoers.d); no ssh host keys (up.sh makes one per host).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
DIR=${1:-$TB_ROOTFS}

recipe_hash() {
  # this script + path, type, x bit and content/target of rootfs-files/* (not the
  # other mode bits: git does not keep them; the build sets them)
  {
    sha256sum < "$HERE/build-rootfs.sh"
    cd "$HERE/rootfs-files"
    find . -print0 | LC_ALL=C sort -z | while IFS= read -r -d '' p; do
      if [ -L "$p" ]; then echo "L $p $(readlink "$p")"
      elif [ -d "$p" ]; then echo "D $p"
      else echo "F $p $([ -x "$p" ] && echo x) $(sha256sum < "$p")"; fi
    done
  } | sha256sum | cut -d' ' -f1
}
WANT=$(recipe_hash)
tb_lock   # no build while a host starts on (or another build writes) the rootfs
if [ -d "$DIR/usr" ] && [ "$(cat "$DIR/etc/testbed-recipe" 2>/dev/null)" = "$WANT" ]; then
  tb_log "rootfs at $DIR is current (recipe ${WANT:0:12})"
  exit 0
fi
if [ -d "$DIR/usr" ]; then
  if grep -q "lowerdir=${DIR}[,:]" /proc/self/mountinfo; then
    # Rebuilding under running hosts would pull their root away. Go on with the
    # old rootfs; the first build-rootfs.sh / up.sh after the last host is down
    # rebuilds it.
    tb_log "WARNING: the rootfs recipe changed, but test hosts run on $DIR: keeping the old rootfs until no host runs (down.sh --all)"
    exit 0
  fi
  tb_log "rootfs recipe changed; rebuilding $DIR"
fi
command -v mmdebstrap >/dev/null || { echo "build-rootfs.sh: mmdebstrap missing (setup.sh --packages-only)" >&2; exit 1; }
mkdir -p "$(dirname "$DIR")"
rm -rf --one-file-system "$DIR.new"
t0=$SECONDS
# Docs, man pages and locales are dropped (~55 MB); copyright files are kept.
# rootfs-files/ is copied in owned by root whoever owns the checkout.
mmdebstrap --quiet --variant=apt \
  --include=openssh-server,systemd,systemd-sysv,dbus,iproute2,iptables,nftables,conntrack,ca-certificates,procps,kmod,sudo \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-include=/usr/share/locale/locale.alias' \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --customize-hook='rm -f "$1"/etc/ssh/ssh_host_*' \
  --customize-hook="tar -C '$HERE/rootfs-files' --owner=0 --group=0 --numeric-owner --mode=go-w --exclude=./README -cf - . | tar -C \"\$1\" -xpf -" \
  --customize-hook='chmod 440 "$1"/etc/sudoers.d/tbuser "$1"/etc/sudoers.d/tbsudo' \
  --customize-hook='for u in tbuser tbsudo; do chroot "$1" useradd --create-home --shell /bin/bash "$u"; echo "$u:tbpass" | chroot "$1" chpasswd; done' \
  --customize-hook='chroot "$1" visudo -c -q' \
  --customize-hook='echo testbed-node > "$1"/etc/hostname' \
  --customize-hook=': > "$1"/etc/machine-id' \
  --customize-hook="echo '$WANT' > \"\$1\"/etc/testbed-recipe" \
  bookworm "$DIR.new" \
  "deb http://deb.debian.org/debian bookworm main" \
  "deb http://deb.debian.org/debian bookworm-updates main" \
  "deb http://deb.debian.org/debian-security bookworm-security main"
if [ -d "$DIR" ]; then
  mv "$DIR" "$DIR.old"
  mv "$DIR.new" "$DIR"
  rm -rf --one-file-system "$DIR.old"
else
  mv "$DIR.new" "$DIR"
fi
tb_log "rootfs built at $DIR in $((SECONDS - t0)) s ($(du -sm "$DIR" | cut -f1) MB, recipe ${WANT:0:12})"
