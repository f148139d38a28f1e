#!/bin/bash
# in-cgroup.sh N CMD... -- move this process into host N's own cgroups, then exec CMD
# (the launcher of host N: systemd-nspawn, or unshare for plain hosts).
set -e
source "$(dirname "$0")/lib.sh"
tb_cgroup_enter "$1"; shift
exec "$@"
