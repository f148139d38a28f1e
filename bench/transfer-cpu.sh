#!/bin/bash
# bench/transfer-cpu.sh ["1 10"] — the deploy host's CPU per transferred byte: ez-executor
# against OpenSSH, same hosts, same file, side by side. A benchmark, not a test.
#
# For each N: a BENCH_SIZE_MB file (default 100) is uploaded to N hosts at once
#   * by ez-executor (`put_file`, its default transport: the file on the stdin of the
#     command that places it; release build of crates/executor/examples/bench.rs): the
#     process's own CPU seconds (getrusage, user + system) during the uploads, connections
#     made beforehand. The main figure puts the file as the install engine does, its sha256
#     known from the bundle manifest (`known_stale`: the transfer alone); also shown: with
#     chacha20-poly1305 instead of the default AES-GCM, and `put_file` hashing the file
#     locally first (what a put of unknown content costs more);
#   * by OpenSSH `scp` (xargs -P N), once with OpenSSH's default cipher and once with the
#     cipher ez-executor negotiates (aes128-gcm@openssh.com): the CPU seconds of scp and its
#     ssh children (/usr/bin/time, children's rusage), logins included (~5 ms each).
# CPU seconds per GB are machine-dependent; their ratio ez/OpenSSH is what the target
# (<= 1.2) is about. One line per N:
#   N=<n> bytes=<b> ez_cpu_s_per_gb=<x> openssh_cpu_s_per_gb=<y> ratio=<x/y>
#   | same cipher (aes128-gcm): openssh=<z> ratio=<x/z> | ez chacha20-poly1305=<c> | ez put_file with local sha256=<h>
#
# Hosts: test bed indices BENCH_FIRST.. (default 1..), plain mode, left running (tests/
# testbed/down.sh removes them). Talks only to 10.250.0.0/24. Needs root and a release build.
# Env: BENCH_FIRST (1), BENCH_SIZE_MB (100), BENCH_NO_BUILD, BENCH_ROUNDS (3: the median of
# each figure), TB_ROOT (/var/lib/testbed).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TB=$ROOT/tests/testbed
TB_ROOT=${TB_ROOT:-/var/lib/testbed}
FIRST=${BENCH_FIRST:-1}
SIZE_MB=${BENCH_SIZE_MB:-100}
ROUNDS=${BENCH_ROUNDS:-3}
NS=(${1:-1 10})
MAXN=0; for n in "${NS[@]}"; do [ "$n" -gt "$MAXN" ] && MAXN=$n; done
KEY=$TB_ROOT/ssh/id_ed25519
KH=$TB_ROOT/ssh/known_hosts
SSH_OPTS=(-F /dev/null -i "$KEY" -o UserKnownHostsFile="$KH" -o StrictHostKeyChecking=yes
          -o BatchMode=yes -o IdentitiesOnly=yes -o LogLevel=ERROR)
[ -x /usr/bin/time ] || { echo "transfer-cpu: needs /usr/bin/time (apt-get install time)" >&2; exit 1; }

[ -n "${BENCH_NO_BUILD:-}" ] || (cd "$ROOT" && cargo build -q --release -p ez-executor --example bench)
BIN=$ROOT/target/release/examples/bench
"$TB/up.sh" --mode plain "$FIRST-$((FIRST + MAXN - 1))" >/dev/null

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
head -c $((SIZE_MB * 1000 * 1000)) /dev/urandom >"$WORK/payload"
BYTES=$(stat -c %s "$WORK/payload")

ips() { local n=$1 i; for ((i = FIRST; i < FIRST + n; i++)); do echo "10.250.0.$((10 + i))"; done; }
median() { sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
per_gb_n() { local c; read -r c; echo "scale=3; $c * 1000000000 / ($BYTES * $1)" | bc; }

# ez_cpu N [VAR=VALUE...]: CPU seconds of ez-executor's uploads of the payload to N hosts.
ez_cpu() {
  local n=$1; shift
  env "$@" "$BIN" --hosts "$(ips "$n" | paste -sd,)" --key "$KEY" --known-hosts "$KH" --forks "$n" \
    upload "$WORK/payload" stdin | sed 's/.*cpu_s=\([0-9.]*\).*/\1/'
}

# scp_cpu N [CIPHER]: CPU seconds of N parallel scp uploads (and their ssh), then cleanup.
scp_cpu() {
  local n=$1 c=() t
  [ -n "${2:-}" ] && c=(-c "$2")
  t=$( { /usr/bin/time -f '%U %S' bash -c 'ips() { local i; for ((i = '"$FIRST"'; i < '"$FIRST"' + $1; i++)); do echo "10.250.0.$((10 + i))"; done; }
        ips '"$n"' | xargs -P '"$n"' -I{} scp -q "$@" root@{}:/var/tmp/transfer-cpu-payload' \
        _ "${SSH_OPTS[@]}" "${c[@]}" "$WORK/payload" 2>&1 >/dev/null; } | tail -1)
  ips "$n" | xargs -P "$n" -I{} ssh "${SSH_OPTS[@]}" root@{} rm -f /var/tmp/transfer-cpu-payload
  echo "$t" | awk '{print $1 + $2}'
}

CIPHER=$(ssh -G -F /dev/null x 2>/dev/null | sed -n 's/^ciphers //p' | cut -d, -f1)
echo "machine: $(nproc) cores, $(uname -r), $(ssh -V 2>&1) (default cipher $CIPHER); payload ${SIZE_MB} MB; median of $ROUNDS rounds"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for n in "${NS[@]}"; do
  ez=(); ezh=(); ezc=(); os=(); gcm=()
  for ((r = 0; r < ROUNDS; r++)); do
    ez+=("$(ez_cpu "$n" BENCH_KNOWN_STALE=1)")
    ezh+=("$(ez_cpu "$n")")
    ezc+=("$(ez_cpu "$n" BENCH_KNOWN_STALE=1 BENCH_CIPHERS=chacha20-poly1305@openssh.com)")
    os+=("$(scp_cpu "$n")")
    gcm+=("$(scp_cpu "$n" aes128-gcm@openssh.com)")
  done
  ez_gb=$(printf '%s\n' "${ez[@]}" | median | per_gb_n "$n")
  ezh_gb=$(printf '%s\n' "${ezh[@]}" | median | per_gb_n "$n")
  ezc_gb=$(printf '%s\n' "${ezc[@]}" | median | per_gb_n "$n")
  os_gb=$(printf '%s\n' "${os[@]}" | median | per_gb_n "$n")
  gcm_gb=$(printf '%s\n' "${gcm[@]}" | median | per_gb_n "$n")
  echo "N=$n bytes=$((BYTES * n)) ez_cpu_s_per_gb=$ez_gb openssh_cpu_s_per_gb=$os_gb ratio=$(echo "scale=2; $ez_gb / $os_gb" | bc)" \
    "| same cipher (aes128-gcm): openssh=$gcm_gb ratio=$(echo "scale=2; $ez_gb / $gcm_gb" | bc)" \
    "| ez chacha20-poly1305=$ezc_gb | ez put_file with local sha256=$ezh_gb"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
