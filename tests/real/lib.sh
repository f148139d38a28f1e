# Shared helpers for tests/real/*: the cache location, logging, and the Go environment.
# Everything built is cached by version under $EZ_REAL_CACHE (outside the work tree).
set -euo pipefail
REAL_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$REAL_DIR/../.." && pwd)"
export EZ_REAL_CACHE="${EZ_REAL_CACHE:-/var/cache/kubeasz-rs-real}"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
# Modules come through the Go module proxy only: never straight from a VCS ("direct").
GOPROXY=$(go env GOPROXY | sed -E 's/[,|]direct$//; s/^direct[,|]?//; s/[,|]off$//')
[ -n "$GOPROXY" ] && [ "$GOPROXY" != off ] || { echo "real: error: no Go module proxy configured (GOPROXY)" >&2; exit 1; }
export GOPROXY
export CGO_ENABLED="${CGO_ENABLED:-0}"

# The test bed's hosts are containers on a sandboxed, cgroup-v1 machine and share its one
# disk with everything else: the settings a kubeasz user on such hosts puts into config.yml
# (preflight names the first three; kubeasz's 10%/15% eviction thresholds of a shared,
# mostly used disk evicted the test's pods with DiskPressure). For start-aio / conformance.
REAL_HOST_SETTINGS=(-e KUBELET_FAIL_CGROUP_V1=false -e KUBE_PROXY_CONNTRACK_MAX_PER_CORE=0
  -e CONTAINERD_RESTRICT_OOM_SCORE_ADJ=true
  -e KUBELET_EVICTION_NODEFS_AVAILABLE=2Gi -e KUBELET_EVICTION_IMAGEFS_AVAILABLE=2Gi)
# kube-lb is nginx with the stream module (kubeasz ships its own build; Debian's here): the
# ezdown arguments that put it into a bundle.
REAL_KUBE_LB_FILES=(--extra-file bin/nginx=/usr/sbin/nginx
  --extra-file bin/nginx-modules/ngx_stream_module.so=/usr/lib/nginx/modules/ngx_stream_module.so)
# One build at a time keeps the peak memory of a 2-core machine reasonable.
export GOMAXPROCS="${GOMAXPROCS:-2}"

say() { printf 'real: %s\n' "$*" >&2; }
die() { printf 'real: error: %s\n' "$*" >&2; exit 1; }

# served_or_die MODULE VERSION: exit with one line naming the served versions of that minor
# when the proxy does not serve MODULE@VERSION.
served_or_die() {
  local mod=$1 ver=$2 minor served
  # the module zip itself: the proxy may answer for a version (.info) and still refuse its zip
  if go mod download "$mod@$ver" >/dev/null 2>&1; then return 0; fi
  minor=$(printf '%s' "$ver" | sed -E 's/^(v?[0-9]+\.[0-9]+)\..*/\1/')
  served=$(go list -m -versions "$mod" 2>/dev/null | tr ' ' '\n' | grep -E "^${minor}\." | tr '\n' ' ' || true)
  die "$mod $ver is not served by the Go module proxy; listed for ${minor}: ${served:-none}"
}

# stamp_ok DIR: a build directory is complete only when its .done stamp exists.
stamp_ok() { [ -f "$1/.done" ]; }

# table_version FIELD: the version table's default for FIELD, read from the repository's table
# (crates/inventory/src/versions.rs), so a substitution is always reported against it.
table_version() {
  sed -n "s/^ *$1: s(\"\([^\"]*\)\"),.*/\1/p" "$REPO_DIR/crates/inventory/src/versions.rs" | head -1
}

# substituted FIELD BUILT WHY: one line when the built version differs from the table's.
substituted() {
  local want; want=$(table_version "$1")
  if [ "$want" != "$2" ]; then say "substitution: $1 $2 instead of the table's ${want:-?} ($3)"; fi
}

# timed NAME CMD...: runs CMD under /usr/bin/time -v; the wall time and peak RSS (the largest
# single process: a compile or link step) go to $EZ_REAL_CACHE/logs/NAME.time and times.tsv.
timed() {
  local name=$1 rc=0 tf; shift
  mkdir -p "$EZ_REAL_CACHE/logs"
  tf="$EZ_REAL_CACHE/logs/$name.time"
  # CMD may be a function of this file: run it in a bash that sources it.
  /usr/bin/time -v -o "$tf" bash -c '. "$0"; "$@"' "$REAL_DIR/lib.sh" "$@" || rc=$?
  local wall rss
  wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$tf")
  rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$tf")
  printf '%s\t%s\t%s MB\trc=%s\t%s\n' "$name" "$wall" "$((${rss:-0} / 1024))" "$rc" "$(date -u +%FT%TZ)" \
    >> "$EZ_REAL_CACHE/logs/times.tsv"
  say "$name: wall $wall, peak RSS $((${rss:-0} / 1024)) MB"
  return "$rc"
}

# gomod_file MODULE VERSION: the path of MODULE@VERSION's go.mod in the module cache.
gomod_file() {
  go mod download -json "$1@$2" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p'
}

# gomod_dir MODULE VERSION: the extracted module tree in the module cache (read-only).
gomod_dir() {
  go mod download -json "$1@$2" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p'
}

# wrapper_module DIR MODULE VERSION: writes DIR/go.mod, a main module that requires
# MODULE@VERSION, so its packages build by import path with MODULE's own requirements (the
# same thing `go install pkg@version` does). Its go/toolchain/godebug lines are MODULE's;
# replace directives to another module are kept, those to a sibling directory of the upstream
# repository (etcd's `=> ../api`) are dropped: the sibling is required at its published
# version of the same release.
wrapper_module() {
  local dir=$1 mod=$2 ver=$3 gomod
  gomod=$(gomod_file "$mod" "$ver")
  [ -f "$gomod" ] || die "no go.mod for $mod@$ver"
  mkdir -p "$dir"
  {
    echo "// Generated by tests/real: builds $mod $ver by import path (its own requirements)."
    echo "module kubeasz-rs.test/real"
    echo
    grep -E '^(go|toolchain) ' "$gomod"
    awk '/^godebug \(/{b=1} b{print} b&&/^\)/{b=0} /^godebug [^(]/{print}' "$gomod"
    echo
    echo "require $mod $ver"
    # replace lines (single or in a block) whose target is a module, not a directory
    awk '/^replace \(/{b=1;next} b&&/^\)/{b=0;next}
         b{line=$0} /^replace [^(]/{line=substr($0,9)}
         line!=""{split(line,p,"=> *"); t=p[2]; gsub(/^[ \t]+/,"",t);
                  if (t !~ /^[.\/]/) print "replace " line; line=""}' "$gomod"
  } > "$dir/go.mod"
}

# gobuild OUT MODULE VERSION ARGS... : `go build -mod=mod -trimpath ARGS` inside a wrapper
# module at OUT/module (ARGS end with the package paths; -o paths are relative to it).
gobuild() {
  local out=$1 mod=$2 ver=$3; shift 3
  wrapper_module "$out/module" "$mod" "$ver"
  mkdir -p "$out/bin"
  (cd "$out/module" && go build -mod=mod -trimpath "$@")
}

# expect_version WHAT WANT CMD...: CMD's output must contain WANT.
expect_version() {
  local what=$1 want=$2 got; shift 2
  got=$("$@" 2>&1 | head -5 | tr '\n' ' ') || true
  case "$got" in
    *"$want"*) say "$what reports $want" ;;
    *) die "$what: expected version $want, got: $got" ;;
  esac
}

# cached_only_or_die WHAT: with EZ_REAL_CACHED_ONLY=1 (`.ci/run` asking whether the cache is
# warm), building anything is refused: exit 3 naming what would have been built.
cached_only_or_die() {
  [ "${EZ_REAL_CACHED_ONLY:-}" = 1 ] || return 0
  printf 'real: %s is not in the cache (%s) and EZ_REAL_CACHED_ONLY=1\n' "$1" "$EZ_REAL_CACHE" >&2
  exit 3
}

# kube_wrapper_module DIR VER: DIR/go.mod (+ tools.go), a main module that requires
# k8s.io/kubernetes VER and replaces every staging module its go.mod lists
# (`k8s.io/x => ./staging/src/k8s.io/x`) by the published v0.N.P of the same release; the list
# is read from that go.mod, never hard-coded. (build-kube.sh, build-e2e.sh)
kube_wrapper_module() {
  local dir=$1 ver=$2 staging_ver gomod godebug gover
  staging_ver="v0.${ver#v1.}"
  gomod=$(gomod_file k8s.io/kubernetes "$ver")
  [ -f "$gomod" ] || die "no go.mod for k8s.io/kubernetes@$ver"
  godebug=$(grep -E '^godebug ' "$gomod" || true)
  gover=$(grep -E '^go ' "$gomod")
  mkdir -p "$dir"
  {
    echo "// Generated by tests/real/build-kube.sh: builds k8s.io/kubernetes $ver as a dependency."
    echo "module kubeasz-rs.test/realkube"
    echo
    echo "$gover"
    [ -n "$godebug" ] && echo "$godebug"
    echo
    echo "require k8s.io/kubernetes $ver"
    echo
    echo "replace ("
    grep -E '^\s*k8s\.io/[^ ]+ => \./staging/' "$gomod" | awk -v v="$staging_ver" '{print "\t" $1 " => " $1 " " v}'
    echo ")"
  } > "$dir/go.mod"
  cat > "$dir/tools.go" <<'GO'
//go:build tools

// Package tools only pins the build's dependencies; the programs are built by import path.
package tools
GO
}

# kube_ldflags VER: the version ldflags upstream's release build sets (hack/lib/version.sh),
# so `--version`, `/version` and the e2e log report VER.
kube_ldflags() {
  local ver=$1 commit major minor build_date gomod ld pkg
  gomod=$(gomod_file k8s.io/kubernetes "$ver")
  commit=$(go mod download -json "k8s.io/kubernetes@$ver" | sed -n 's/.*"Hash": "\(.*\)".*/\1/p' | head -1)
  major=$(echo "${ver#v}" | cut -d. -f1); minor=$(echo "${ver#v}" | cut -d. -f2)
  build_date=$(date -u -d "@$(stat -c %Y "$gomod")" +%Y-%m-%dT%H:%M:%SZ)
  ld="-s -w"
  for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    ld+=" -X $pkg.gitVersion=$ver -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    ld+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$build_date"
    [ -n "$commit" ] && ld+=" -X $pkg.gitCommit=$commit"
  done
  printf '%s' "$ld"
}
