#!/bin/bash
# bench/ssh-bench.sh ["1 10 30"] — ez-executor vs OpenSSH on the test bed. A benchmark, not a test.
#
#   (a) 20 small commands per host on N hosts (one connection per host, `forks` = N):
#       wall time, and T(N)/T(1).
#   (b) a 100 MB file uploaded to every host: aggregate MB/s of ez-executor (its three
#       transports: stdin of the placing command (default, the ratio column), SCP, SFTP) next to OpenSSH `scp` run with the same parallelism to the same hosts.
#
# Hosts: test bed indices BENCH_FIRST.. (default 1..30), plain mode, started with
# tests/testbed/up.sh and left running like every bed user does (tests/testbed/down.sh
# removes them). Talks only to 10.250.0.0/24. Needs root (the bed) and a release build.
# Env: BENCH_FIRST (1), BENCH_COUNT (20), BENCH_SIZE_MB (100), BENCH_NO_BUILD, TB_ROOT (/var/lib/testbed).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TB=$ROOT/tests/testbed
TB_ROOT=${TB_ROOT:-/var/lib/testbed}
FIRST=${BENCH_FIRST:-1}
COUNT=${BENCH_COUNT:-20}
SIZE_MB=${BENCH_SIZE_MB:-100}
NS=(${1:-1 10 30})
MAXN=0; for n in "${NS[@]}"; do [ "$n" -gt "$MAXN" ] && MAXN=$n; done
KEY=$TB_ROOT/ssh/id_ed25519
KH=$TB_ROOT/ssh/known_hosts
SSH_OPTS=(-F /dev/null -i "$KEY" -o UserKnownHostsFile="$KH" -o StrictHostKeyChecking=yes
          -o BatchMode=yes -o IdentitiesOnly=yes -o LogLevel=ERROR)

# BENCH_NO_BUILD=1 reuses an existing release build (the shared target/ may be locked).
[ -n "${BENCH_NO_BUILD:-}" ] || (cd "$ROOT" && cargo build -q --release -p ez-executor --example bench)
BIN=$ROOT/target/release/examples/bench
"$TB/up.sh" --mode plain "$FIRST-$((FIRST + MAXN - 1))" >/dev/null

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
head -c $((SIZE_MB * 1000 * 1000)) /dev/urandom >"$WORK/payload"

ips() { local n=$1 i; for ((i = FIRST; i < FIRST + n; i++)); do echo "10.250.0.$((10 + i))"; done; }
now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc; }

echo "machine: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r), $(. /etc/os-release; echo "$PRETTY_NAME")"
echo "openssh: $(ssh -V 2>&1); payload ${SIZE_MB} MB; ${COUNT} commands/host"
printf '%-4s | %-8s %-8s %-8s %-8s %-8s | %-9s %-9s | %-12s %-10s %-10s %-10s %-10s\n' N ez_conn ez_cmds ez_wall wall/T1 cmds/C1 ssh_wall ssh/S1 ez_stdin_MBs ez_scp_MBs ez_sftp_MBs openssh_MBs ez/openssh
T1=""; C1=""; S1=""
for n in "${NS[@]}"; do
  list=$(ips "$n" | paste -sd,)
  line=$("$BIN" --hosts "$list" --key "$KEY" --known-hosts "$KH" --forks "$n" cmds "$COUNT")
  ez=$(sed 's/.*wall_s=//' <<<"$line"); ec=$(sed 's/.*connect_s=\([0-9.]*\).*/\1/' <<<"$line"); em=$(sed 's/.*cmds_s=\([0-9.]*\).*/\1/' <<<"$line")
  t0=$(now)
  ips "$n" | xargs -P "$n" -I{} bash -c 'for i in $(seq '"$COUNT"'); do ssh "$@" root@{} hostname >/dev/null; done' _ "${SSH_OPTS[@]}"
  so=$(secs "$t0" "$(now)")
  [ -z "$T1" ] && T1=$ez && C1=$em && S1=$so
  stdin_r=$("$BIN" --hosts "$list" --key "$KEY" --known-hosts "$KH" --forks "$n" upload "$WORK/payload" stdin | sed 's/.*aggregate_mb_s=\([0-9.]*\).*/\1/')
  scp_r=$("$BIN" --hosts "$list" --key "$KEY" --known-hosts "$KH" --forks "$n" upload "$WORK/payload" scp | sed 's/.*aggregate_mb_s=\([0-9.]*\).*/\1/')
  sftp_r=$("$BIN" --hosts "$list" --key "$KEY" --known-hosts "$KH" --forks "$n" upload "$WORK/payload" sftp | sed 's/.*aggregate_mb_s=\([0-9.]*\).*/\1/')
  t0=$(now)
  ips "$n" | xargs -P "$n" -I{} scp -q "${SSH_OPTS[@]}" "$WORK/payload" root@{}:/var/tmp/ssh-bench-payload
  up=$(secs "$t0" "$(now)")
  ips "$n" | xargs -P "$n" -I{} ssh "${SSH_OPTS[@]}" root@{} rm -f /var/tmp/ssh-bench-payload
  os_r=$(echo "scale=1; $n * $SIZE_MB / $up" | bc)
  printf '%-4s | %-8.2f %-8.2f %-8.2f %-8.2f %-8.2f | %-9.2f %-9.2f | %-12s %-10s %-10s %-10s %-10.2f\n' "$n" "$ec" "$em" "$ez" \
    "$(echo "$ez / $T1" | bc -l)" "$(echo "$em / $C1" | bc -l)" "$so" "$(echo "$so / $S1" | bc -l)" \
    "$stdin_r" "$scp_r" "$sftp_r" "$os_r" "$(echo "$stdin_r / $os_r" | bc -l)"
done
echo "load average after the run: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews every figure)"
