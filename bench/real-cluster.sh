#!/usr/bin/env bash
# bench/real-cluster.sh   (root; the real components cached by tests/real/up; test-bed hosts
# BENCH_HOSTS="32 33": no test uses them)
#
# Wall time of the product's main path on real Kubernetes, each as a first run beside the
# idempotent re-run on the converged hosts, with where the time goes (per step, from the
# time each `==> <step>` line of ezctl's output appears to the next):
#   start-aio      first: `ezctl start-aio` on a fresh host A   re-run: `setup default all`
#   add-node       first: `ezctl add-node default B`            re-run: `setup default all`
#                  (2 hosts)
# and the ratio re-run/first. Not a test: figures depend on the machine and its load; record
# them in docs/en/real-cluster.md.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/tests/real/lib.sh"
[ "$(id -u)" = 0 ] || die "bench/real-cluster.sh needs root (test bed)"
read -r HA HB <<< "${BENCH_HOSTS:-32 33}"
IPA=10.250.0.$((10 + HA)); IPB=10.250.0.$((10 + HB))
TB="$root/tests/testbed"
KEY=/var/lib/testbed/ssh/id_ed25519
up_out=$(EZ_REAL_CACHED_ONLY=1 EZ_REAL_KUBERNETES_PREV=none "$REAL_DIR/up" 2>/dev/null) \
  || die "the real components are not cached: run tests/real/up first"
EZDOWN_ARGS=$(printf '%s\n' "$up_out" | sed -n 's/^EZDOWN_ARGS=//p' | tail -1)
(cd "$root" && cargo build --release -q -p ez-cli) || die "build failed"
EZCTL="$root/target/release/ezctl"; EZDOWN="$root/target/release/ezdown"
work=$(mktemp -d /var/tmp/ez-real-bench.XXXXXX)
cleanup() { "$TB/down.sh" "$HA,$HB" >/dev/null 2>&1; rm -rf "$work"; }
trap cleanup EXIT
"$TB/down.sh" "$HA,$HB" >/dev/null 2>&1
"$TB/up.sh" "$HA,$HB" > "$work/testbed.log" 2>&1 || die "test bed: $(tail -3 "$work/testbed.log")"
BASE="$work/base"
# shellcheck disable=SC2086
"$EZDOWN" -D --base "$BASE" $EZDOWN_ARGS --network flannel --without nodelocaldns \
  "${REAL_KUBE_LB_FILES[@]}" > "$work/ezdown.log" 2>&1 || die "ezdown: $(tail -3 "$work/ezdown.log")"
EZ=("$EZCTL" --base "$BASE" -y --accept-new-host-keys)

# timed NAME CMD...: runs CMD, each output line stamped with the seconds since its start;
# prints NAME's wall time and writes $work/NAME.steps ("<step> <seconds>" per step).
timed() {
  local name=$1 t0 rc; shift
  t0=$(date +%s%N)
  "$@" 2>&1 | while IFS= read -r l; do
    printf '%s %s\n' "$(( ($(date +%s%N) - t0) / 1000000 ))" "$l"
  done > "$work/$name.log"
  rc=${PIPESTATUS[0]}
  local total=$(( ($(date +%s%N) - t0) / 1000000 ))  # ms
  awk -v end="$total" '
    $2 == "==>" { if (step != "") printf "%s %.1f\n", step, ($1 - t) / 1000; step = $3; sub(/:$/, "", step); t = $1 }
    END { if (step != "") printf "%s %.1f\n", step, (end - t) / 1000 }' "$work/$name.log" > "$work/$name.steps"
  echo "$total" > "$work/$name.total"
  [ "$rc" = 0 ] || die "$name failed (exit $rc): $(tail -5 "$work/$name.log")"
}
timed aio-first "${EZ[@]}" start-aio --ip "$IPA" --ssh-key "$KEY" --network flannel "${REAL_HOST_SETTINGS[@]}"
timed aio-rerun "${EZ[@]}" setup default all
timed node-first "${EZ[@]}" add-node default "$IPB"
timed node-rerun "${EZ[@]}" setup default all

row() { # NAME FIRST RERUN
  awk -v n="$1" -v f="$(cat "$work/$2.total")" -v r="$(cat "$work/$3.total")" \
    'BEGIN { printf "%-10s first %7.1f s   re-run %6.1f s   re-run/first %.2f\n", n, f / 1000, r / 1000, r / f }'
}
echo "== wall time (hosts tb$HA tb$HB, $(nproc) CPUs, load $(cut -d' ' -f1 /proc/loadavg))"
row start-aio aio-first aio-rerun
row add-node node-first node-rerun
for n in aio-first aio-rerun node-first node-rerun; do
  echo "== steps of $n (seconds)"
  sed 's/^/   /' "$work/$n.steps"
done
