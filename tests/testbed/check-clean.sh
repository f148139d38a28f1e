#!/bin/bash
# check-clean.sh -- after `down.sh --all`: verify that nothing of the test bed is left
# on the machine (processes, mounts, cgroups, netns, veths, bridge, iptables rule,
# raised inotify limit, /run/netns). Prints what it finds; exit status 1 if anything.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
bad=0
found() { echo "left over: $*"; bad=1; }
while IFS= read -r d; do
  found "cgroup $d"; p=$(find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u | tr '\n' ' ')
  [ -z "$p" ] || found "processes in $d: $p"
done < <(find /sys/fs/cgroup -mindepth 1 -maxdepth 6 -type d -name testbed 2>/dev/null)
grep -q "systemd-nspawn.*-M tb[0-9]" <(ps -eo args) && found "systemd-nspawn processes: $(pgrep -f 'systemd-nspawn.*-M tb[0-9]' | tr '\n' ' ')"
m=$(awk -v r="$TB_ROOT/" 'index($5, r) == 1 {print $5}' /proc/self/mountinfo); [ -z "$m" ] || found "mounts: $m"
grep -q ' /run/netns ' /proc/self/mountinfo && found "mount /run/netns"
n=$(ip netns list 2>/dev/null | awk '$1 ~ /^tb[0-9]+$/ {print $1}' | tr '\n' ' '); [ -z "$n" ] || found "netns: $n"
l=$(ip -o link show 2>/dev/null | awk -F': ' '$2 ~ /^(tbv[0-9]+|tbbr0)(@|$)/ {print $2}' | tr '\n' ' '); [ -z "$l" ] || found "links: $l"
iptables -S FORWARD 2>/dev/null | grep -q -- "-i $TB_BR" && found "iptables rule: $(iptables -S FORWARD | grep -- "-i $TB_BR")"
[ -f "$TB_ROOT/inotify.orig" ] && found "inotify limit not restored (was $(cat "$TB_ROOT/inotify.orig"))"
[ -d /run/systemd/nspawn/propagate ] && [ -n "$(ls -A /run/systemd/nspawn/propagate)" ] && found "/run/systemd/nspawn/propagate: $(ls /run/systemd/nspawn/propagate)"
[ "$bad" = 0 ] && echo "clean: nothing of the test bed is left"
exit $bad
