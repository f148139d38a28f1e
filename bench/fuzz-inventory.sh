#!/usr/bin/env bash
# Fuzz the kubeasz inventory and config.yml parsers (and the model/validation behind them) for
# a bounded time, then report how many targets panicked. Exit 1 if any did.
#
#   bench/fuzz-inventory.sh [SECONDS_PER_TARGET]      (default: $FUZZ_SECONDS or 60)
#   FUZZ_MODE=stable bench/fuzz-inventory.sh 10      (force the stable harness)
#
# With a nightly toolchain it runs the cargo-fuzz targets in fuzz/ (installing cargo-fuzz from
# crates.io if it is missing); without one, cargo-fuzz cannot work, so it runs the stable
# proptest harness (crates/inventory/tests/fuzz_harness.rs, same entry points) for the same
# time instead. New corpus entries go to fuzz/corpus/<target> (not committed); crashes to
# fuzz/artifacts/<target>. Safe Rust needs no AddressSanitizer, so it runs without one (faster).
set -euo pipefail
cd "$(dirname "$0")/.."

SECS="${1:-${FUZZ_SECONDS:-60}}"
TARGETS=(inventory config cluster)
LOG_DIR="$(mktemp -d)"
trap 'rm -rf "$LOG_DIR"' EXIT

have_nightly() { command -v rustup >/dev/null && rustup run nightly rustc --version >/dev/null 2>&1; }
have_cargo_fuzz() { cargo fuzz --version >/dev/null 2>&1; }

mode=stable-proptest
if [ "${FUZZ_MODE:-auto}" != stable ] && have_nightly; then
  if ! have_cargo_fuzz; then
    echo "fuzz-inventory: installing cargo-fuzz (crates.io)"
    cargo install cargo-fuzz --locked >"$LOG_DIR/install.log" 2>&1 || {
      echo "fuzz-inventory: cargo install cargo-fuzz failed; falling back to the stable harness"
      tail -5 "$LOG_DIR/install.log"
    }
  fi
  have_cargo_fuzz && mode=libfuzzer
fi

panics=0
total_runs=0
if [ "$mode" = libfuzzer ]; then
  for t in "${TARGETS[@]}"; do
    mkdir -p "fuzz/corpus/$t"
    log="$LOG_DIR/$t.log"
    echo "fuzz-inventory: libFuzzer target '$t' for ${SECS}s"
    if (cd fuzz && cargo +nightly fuzz run --sanitizer none "$t" "corpus/$t" "seeds/$t" -- \
          -max_total_time="$SECS" -rss_limit_mb=2048 -print_final_stats=1) >"$log" 2>&1; then
      runs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' | tail -1)
      echo "  $t: ${runs:-?} runs, 0 panics"
      total_runs=$((total_runs + ${runs:-0}))
    else
      panics=$((panics + 1))
      echo "  $t: FAILED (panic or build error); last lines:"
      tail -30 "$log" | sed 's/^/    /'
      ls "fuzz/artifacts/$t" 2>/dev/null | sed 's/^/    artifact: /' || true
    fi
  done
else
  echo "fuzz-inventory: no nightly toolchain (or FUZZ_MODE=stable): running the stable proptest harness for ${SECS}s per target"
  cargo test -p ez-inventory --release --test fuzz_harness --no-run >"$LOG_DIR/build.log" 2>&1 || {
    tail -20 "$LOG_DIR/build.log"; exit 1; }
  deadline=$(( $(date +%s) + SECS * ${#TARGETS[@]} ))
  rounds=0
  while [ "$(date +%s)" -lt "$deadline" ]; do
    if ! PROPTEST_CASES=2000 cargo test -p ez-inventory --release --test fuzz_harness >"$LOG_DIR/round.log" 2>&1; then
      panics=$((panics + 1))
      grep -E "panicked|minimal failing input" -A3 "$LOG_DIR/round.log" | head -40
      break
    fi
    rounds=$((rounds + 1))
  done
  total_runs=$((rounds * 2000 * 5))
fi

echo "fuzz-inventory: mode=$mode targets=${#TARGETS[@]} seconds_per_target=$SECS runs=$total_runs panics=$panics"
[ "$panics" -eq 0 ]
