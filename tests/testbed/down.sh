#!/bin/bash
# down.sh [HOSTSPEC... | --all] [--keep-data]
#   Stop the named hosts (e.g. `down.sh 3`, `down.sh 5,7,9-12`), or all of them
#   (`--all`, also the default without a HOSTSPEC), and remove what up.sh made for
#   them: processes (found by the host's own cgroups, never by name), the overlay
#   and any mount below hosts/tbN, the cgroups, netns tbN, veth tbvN, the
#   known_hosts line. With --all, or once no host is left, also the bridge, its
#   iptables rule, /run/netns (if up.sh made it) and the raised inotify limit.
#   The rootfs and the client keys stay. Idempotent.
#   --keep-data  keep hosts/tbN/{upper,vol} (what the host wrote; a later up.sh
#                boots it again with that data; journal: journalctl -D
#                hosts/tbN/upper/var/log/journal)
set -uo pipefail
source "$(dirname "$0")/lib.sh"
ALL=0; KEEP=0; specs=()
for a in "$@"; do
  case $a in
    --all) ALL=1 ;;
    --keep-data) KEEP=1 ;;
    -h|--help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) tb_die "unknown option $a" ;;
    *) specs+=("$a") ;;
  esac
done
[ ${#specs[@]} -gt 0 ] || ALL=1
tb_need_root
[ -d "$TB_ROOT" ] || exit 0
if [ "$ALL" = 1 ]; then mapfile -t HOSTS < <(tb_hosts_present)
else tb_parse_hosts "${specs[@]}"; HOSTS=("${TB_HOSTS[@]}"); fi
t0=$(date +%s.%N)
tb_lock

# 1. kill all at once, then wait (nspawn takes ~2 s to exit after its PID 1 died)
for n in "${HOSTS[@]}"; do tb_kill_start "$n"; done
[ ${#HOSTS[@]} = 0 ] || tb_kill_wait "${HOSTS[@]}"

# 2. per-host cleanup, hosts in parallel (each touches only its own things)
cleanup_host() {  # N
  local n=$1 h m; h=$(tb_hdir "$n")
  [ -d "$h" ] || { ip netns del "tb$n" 2>/dev/null; ip link del "tbv$n" 2>/dev/null; return 0; }
  # the overlay and anything mounted below it in the machine's mount namespace
  for m in $(awk -v r="$h/" 'index($5, r) == 1 {print $5}' /proc/self/mountinfo | sort -r); do
    umount "$m" 2>/dev/null || umount -l "$m"
  done
  tb_cgroup_remove "$n"
  ip netns del "tb$n" 2>/dev/null
  ip link del "tbv$n" 2>/dev/null
  ip neigh flush to "$(tb_ip "$n")" 2>/dev/null
  rm -rf "/run/systemd/nspawn/propagate/tb$n"
  if [ "$KEEP" = 1 ]; then
    rm -rf --one-file-system "$h/work" "$h/root" "$h/pid" "$h/frozen"
  else
    rm -rf --one-file-system "$h"
  fi
}
for n in "${HOSTS[@]}"; do cleanup_host "$n" & done
wait
if [ -f "$TB_SSH/known_hosts" ] && [ ${#HOSTS[@]} -gt 0 ]; then
  pat=$(printf '^tb%s,|' "${HOSTS[@]}"); pat=${pat%|}
  grep -Ev "$pat" "$TB_SSH/known_hosts" > "$TB_SSH/known_hosts.new"
  mv -f "$TB_SSH/known_hosts.new" "$TB_SSH/known_hosts"
fi

# 3. shared pieces, when nothing is left
left=0
for n in $(tb_hosts_present); do tb_running "$n" && left=1; ip netns pids "tb$n" >/dev/null 2>&1 && left=1; done
if [ "$ALL" = 1 ] || [ "$left" = 0 ]; then
  # strays of an up.sh that failed half way
  for ns in $(ip netns list 2>/dev/null | awk '$1 ~ /^tb[0-9]+$/ {print $1}'); do ip netns del "$ns"; done
  for l in $(ip -o link show 2>/dev/null | awk -F': ' '$2 ~ /^tbv[0-9]+(@|$)/ {sub(/@.*/, "", $2); print $2}'); do
    ip link del "$l"
  done
  while iptables -D FORWARD -i "$TB_BR" ! -o "$TB_BR" -j DROP 2>/dev/null; do :; done
  ip link del "$TB_BR" 2>/dev/null
  if [ -f "$TB_ROOT/inotify.orig" ]; then
    sysctl -qw fs.inotify.max_user_instances="$(cat "$TB_ROOT/inotify.orig")" && rm -f "$TB_ROOT/inotify.orig"
  fi
  if [ -f "$TB_ROOT/netns.ours" ]; then
    if [ -z "$(ls -A /run/netns 2>/dev/null)" ]; then
      umount /run/netns 2>/dev/null; rmdir /run/netns 2>/dev/null
    fi
    rm -f "$TB_ROOT/netns.ours"
  fi
  rmdir /run/systemd/nspawn/propagate /run/systemd/nspawn 2>/dev/null
  rmdir "$TB_ROOT/hosts" 2>/dev/null
fi
tb_log "down: ${#HOSTS[@]} hosts in $(awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $t0}") s"
exit 0
