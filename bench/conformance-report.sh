#!/usr/bin/env bash
# bench/conformance-report.sh [N] -- time `ezctl conformance report` on the largest real
# e2e.log + junit_01.xml pair (cncf/k8s-conformance v1.26/kind: 3.5 MB + 2.4 MB), release build.
#
# Prints the mean wall time per run (process start included) against the 50 ms target, and the
# ratio to `grep -c ''` over the same two files (a floor: reading the bytes once).
# Fixtures: tests/fixtures/conformance/ of this repository (tests/fixtures/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-20}"
KIND="tests/fixtures/conformance/submissions/v1.26/kind"
[ -f "$KIND/junit_01.xml" ] || { echo "bench: fixtures not found under $KIND" >&2; exit 2; }

cargo build --release -q -p ez-cli --bin ezctl
BIN=target/release/ezctl

# One untimed run: warms the page cache and checks the verdict.
"$BIN" conformance report "$KIND/e2e.log" "$KIND/junit_01.xml" >/dev/null

times_ms() { # command... : "mean min" wall milliseconds over N runs
  local t0 t1 all=""
  for _ in $(seq "$N"); do
    t0=$(date +%s%N); "$@" >/dev/null; t1=$(date +%s%N)
    all="$all $(( t1 - t0 ))"
  done
  echo "$all" | awk '{ s = 0; m = $1; for (i = 1; i <= NF; i++) { s += $i; if ($i < m) m = $i }
                       printf "%.2f %.2f\n", s / NF / 1e6, m / 1e6 }'
}

read -r REPORT REPORT_MIN < <(times_ms "$BIN" --json conformance report "$KIND/e2e.log" "$KIND/junit_01.xml")
read -r GREP GREP_MIN < <(times_ms grep -c '' "$KIND/e2e.log" "$KIND/junit_01.xml")
RATIO=$(awk -v r="$REPORT" -v g="$GREP" 'BEGIN { printf "%.1f", r / g }')
echo "conformance report (v1.26/kind, $(du -ch "$KIND/e2e.log" "$KIND/junit_01.xml" | tail -1 | cut -f1)), $N runs, load $(cut -d' ' -f1 /proc/loadavg):"
echo "  ezctl conformance report: mean ${REPORT} ms, best ${REPORT_MIN} ms   (target <= 50 ms)"
echo "  grep -c '' baseline:      mean ${GREP} ms, best ${GREP_MIN} ms   (report/grep = ${RATIO}x)"
if awk -v r="$REPORT" 'BEGIN { exit !(r <= 50) }'; then echo "  within target"; else echo "  OVER TARGET (mean)"; exit 1; fi
