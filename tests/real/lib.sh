# Shared helpers for tests/real/*: the cache location, logging, and the Go environment.
# Everything built is cached by version under $EZ_REAL_CACHE (outside the work tree).
set -euo pipefail
REAL_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$REAL_DIR/../.." && pwd)"
EZ_REAL_CACHE="${EZ_REAL_CACHE:-/var/cache/kubeasz-rs-real}"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
export CGO_ENABLED="${CGO_ENABLED:-0}"
# One build at a time keeps the peak memory of a 2-core machine reasonable.
export GOMAXPROCS="${GOMAXPROCS:-2}"

say() { printf 'real: %s\n' "$*" >&2; }
die() { printf 'real: error: %s\n' "$*" >&2; exit 1; }

# served_or_die MODULE VERSION: exit with one line naming the served versions of that minor
# when the proxy does not serve MODULE@VERSION.
served_or_die() {
  local mod=$1 ver=$2 minor served
  if go list -m -json "$mod@$ver" >/dev/null 2>&1; then return 0; fi
  minor=$(printf '%s' "$ver" | sed -E 's/^(v?[0-9]+\.[0-9]+)\..*/\1/')
  served=$(go list -m -versions "$mod" 2>/dev/null | tr ' ' '\n' | grep -E "^${minor}\." | tr '\n' ' ' || true)
  die "$mod $ver is not served by the Go module proxy; served of ${minor}: ${served:-none}"
}

# stamp_ok DIR: a build directory is complete only when its .done stamp exists.
stamp_ok() { [ -f "$1/.done" ]; }
