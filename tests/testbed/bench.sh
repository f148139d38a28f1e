#!/bin/bash
# bench.sh [--mode systemd|plain] HOSTSPEC -- time up.sh (until every host accepts
# ssh), "booted" (systemd: until every host's is-system-running says running,
# polled in parallel), memory per host (cgroup), and down.sh for these hosts.
# The hosts must not be running before (they are downed first).
set -uo pipefail
D=$(cd "$(dirname "$0")" && pwd); source "$D/lib.sh"
MODE=systemd; [ "${1:-}" = --mode ] && { MODE=$2; shift 2; }
tb_parse_hosts "${1:?usage: bench.sh [--mode M] HOSTSPEC}"; H=("${TB_HOSTS[@]}"); SPEC=$1
"$D/down.sh" "$SPEC" 2>/dev/null
now() { date +%s.%N; }
t0=$(now); "$D/up.sh" --mode "$MODE" "$SPEC" 2>/dev/null || { echo "up.sh failed"; exit 1; }; t1=$(now)
if [ "$MODE" = systemd ]; then
  for n in "${H[@]}"; do
    ( for _ in $(seq 300); do
        s=$(ssh -F "$TB_SSH/config" "tb$n" systemctl is-system-running 2>/dev/null)
        [ "$s" = running ] && exit 0; [ "$s" = degraded ] && { echo "tb$n degraded" >&2; exit 1; }
        sleep 0.2; done; exit 1 ) &
  done
  wait
fi
t2=$(now); sleep 2
mem=0; for n in "${H[@]}"; do
  m=$(grep /memory/ "$(tb_hdir "$n")/cgroups"); mem=$((mem + $(cat "$m/memory.usage_in_bytes")))
done
t3=$(now); "$D/down.sh" "$SPEC" 2>/dev/null; t4=$(now)
awk -v m="$MODE" -v n=${#H[@]} -v up="$(echo "$t1 - $t0" | bc)" -v boot="$(echo "$t2 - $t0" | bc)" \
    -v dn="$(echo "$t4 - $t3" | bc)" -v mem=$((mem / ${#H[@]} / 1024)) -v load="$(cut -d' ' -f1 /proc/loadavg)" \
  'BEGIN {printf "%-7s N=%-3d up=%5.1fs booted=%5.1fs down=%4.1fs mem/host=%5.1f MiB (loadavg before down %s)\n", m, n, up, boot, dn, mem/1024, load}'
