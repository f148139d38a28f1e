#!/bin/sh
# node-init.sh NAME ROOT -- PID 1 of a *plain* test host (no service manager).
#
# up.sh runs it through `ip netns exec tbN unshare --cgroup --mount --uts --ipc --pid
# --fork`, so it starts as PID 1 of fresh namespaces inside the host's netns and its
# own cgroups. It mounts the API filesystems into ROOT (the host's overlay), then
# chroots and execs sshd in the foreground: sshd becomes PID 1 and reaps orphans;
# killing it ends the whole host. The code under test has to start its own daemons
# (e.g. `setsid etcd ... &`). SIGHUP makes sshd re-exec itself (PID stays 1) and
# re-read its host key: that is how `tb rekey` works on plain hosts.
set -e
NAME=$1; R=$2
hostname "$NAME"
mount -t proc -o nosuid,nodev,noexec proc "$R/proc"
# /proc/sys read-only (kernel.*, vm.* are global to the machine) except net.* (per
# netns) -- the same policy as nspawn + testbed-rw on systemd hosts.
mount --bind "$R/proc/sys" "$R/proc/sys"; mount -o remount,bind,ro "$R/proc/sys"
mount --bind "$R/proc/sys/net" "$R/proc/sys/net"; mount -o remount,bind,rw "$R/proc/sys/net"
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$R/sys"
# cgroups: unshare --cgroup rooted our cgroup namespace at the host's own cgroups,
# so fresh mounts show (and allow changes to) only this host's subtree.
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 "$R/sys/fs/cgroup"
else
  mount -t tmpfs -o mode=755,nosuid,nodev,noexec tmpfs "$R/sys/fs/cgroup"
  while IFS=: read -r _ hier _; do
    case $hier in
      "") mkdir -p "$R/sys/fs/cgroup/unified"
          mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 "$R/sys/fs/cgroup/unified" ;;
      name=*) d=${hier#name=}; mkdir -p "$R/sys/fs/cgroup/$d"
          mount -t cgroup -o "nosuid,nodev,noexec,none,$hier" cgroup "$R/sys/fs/cgroup/$d" ;;
      *) mkdir -p "$R/sys/fs/cgroup/$hier"
          mount -t cgroup -o "nosuid,nodev,noexec,$hier" cgroup "$R/sys/fs/cgroup/$hier" ;;
    esac
  done < /proc/self/cgroup
fi
# a minimal /dev with its own devpts instance
mount -t tmpfs -o mode=755,nosuid,size=1m tmpfs "$R/dev"
for d in "null 1 3" "zero 1 5" "full 1 7" "random 1 8" "urandom 1 9" "tty 5 0"; do
  set -- $d; mknod -m 666 "$R/dev/$1" c "$2" "$3"
done
mkdir -p "$R/dev/pts" "$R/dev/shm" "$R/dev/mqueue"
mount -t devpts -o newinstance,ptmxmode=0666,mode=620,gid=5 devpts "$R/dev/pts"
ln -s pts/ptmx "$R/dev/ptmx"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$R/dev/shm"
mount -t mqueue mqueue "$R/dev/mqueue"
ln -s /proc/self/fd "$R/dev/fd"; ln -s /proc/self/fd/0 "$R/dev/stdin"
ln -s /proc/self/fd/1 "$R/dev/stdout"; ln -s /proc/self/fd/2 "$R/dev/stderr"
if [ -e /dev/net/tun ]; then mkdir -p "$R/dev/net"; mknod -m 666 "$R/dev/net/tun" c 10 200; fi
mount -t tmpfs -o mode=755,nosuid,nodev tmpfs "$R/run"
mkdir -p "$R/run/sshd" "$R/run/lock"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$R/tmp"
# per-host volumes from the real filesystem (TB_VOLUMES, see lib.sh)
for v in $TB_VOLUMES; do mount --bind "$(dirname "$R")/vol$v" "$R$v"; done
exec chroot "$R" /usr/sbin/sshd -D -e
