#!/usr/bin/env bash
# Builds the conformance programs of one Kubernetes release from the k8s.io/kubernetes module,
# into $EZ_REAL_CACHE/kubernetes/<version>/e2e/bin:
#   e2e.test   `go test -c k8s.io/kubernetes/test/e2e`, with the version ldflags of
#              build-kube.sh (the suite logs and reports the real version)
#   ginkgo     github.com/onsi/ginkgo/v2/ginkgo at the version the release's go.mod pins
#   go-runner  k8s.io/kubernetes/test/conformance/image/go-runner (the image's entrypoint)
#   agnhost    k8s.io/kubernetes/test/images/agnhost (the e2e test image's program)
#   nnp        k8s.io/kubernetes/test/images/nonewprivs (the nonewprivs test image's program)
# in a wrapper module of its own (the same one build-kube.sh writes: every staging module
# replaced by its published v0.N.P). Cached: a .done stamp. Times: logs/e2e-*.time.
# Usage: build-e2e.sh vX.Y.Z
. "$(dirname "$0")/lib.sh"
VER=${1:?usage: build-e2e.sh vX.Y.Z}
served_or_die k8s.io/kubernetes "$VER"
OUT="$EZ_REAL_CACHE/kubernetes/$VER/e2e"
PROGS=(e2e.test ginkgo go-runner agnhost nnp)
all_built() { local p; for p in "${PROGS[@]}"; do [ -x "$OUT/bin/$p" ] || return 1; done; }
if stamp_ok "$OUT" && all_built; then say "e2e programs of kubernetes $VER cached in $OUT"; exit 0; fi
cached_only_or_die "${PROGS[*]} of kubernetes $VER"
MOD="$OUT/module"
kube_wrapper_module "$MOD" "$VER"
# start from build-kube.sh's go.sum when there is one (the same requirements, fewer look-ups)
[ -f "$EZ_REAL_CACHE/kubernetes/$VER/module/go.sum" ] && [ ! -f "$MOD/go.sum" ] \
  && cp "$EZ_REAL_CACHE/kubernetes/$VER/module/go.sum" "$MOD/go.sum"
ld=$(kube_ldflags "$VER")
ginkgo_ver=$(grep -E '^\s*github.com/onsi/ginkgo/v2 ' "$(gomod_file k8s.io/kubernetes "$VER")" | awk '{print $2}')
[ -n "$ginkgo_ver" ] || die "k8s.io/kubernetes $VER's go.mod pins no github.com/onsi/ginkgo/v2"
B="$OUT/bin"
rm -rf "$B"; mkdir -p "$B"
cd "$MOD"
say "building e2e.test of kubernetes $VER (go test -c; cold: tens of minutes on 2 cores)"
timed e2e.test go test -c -mod=mod -trimpath -ldflags "$ld" -o "$B/e2e.test" k8s.io/kubernetes/test/e2e
say "building ginkgo $ginkgo_ver, go-runner, agnhost and nnp"
timed e2e-ginkgo go build -mod=mod -trimpath -ldflags "-s -w" -o "$B/ginkgo" github.com/onsi/ginkgo/v2/ginkgo
timed e2e-go-runner go build -mod=mod -trimpath -ldflags "-s -w" -o "$B/go-runner" k8s.io/kubernetes/test/conformance/image/go-runner
timed e2e-agnhost go build -mod=mod -trimpath -ldflags "$ld" -o "$B/agnhost" k8s.io/kubernetes/test/images/agnhost
timed e2e-nnp go build -mod=mod -trimpath -ldflags "-s -w" -o "$B/nnp" k8s.io/kubernetes/test/images/nonewprivs
all_built || die "not every program was built: ${PROGS[*]}"
# the ginkgo actually linked must be the pinned one
got=$(go version -m "$B/ginkgo" | awk '$1=="mod" && $2=="github.com/onsi/ginkgo/v2"{print $3}')
[ "$got" = "$ginkgo_ver" ] || die "ginkgo: built $got, the release pins $ginkgo_ver"
expect_version ginkgo "${ginkgo_ver#v}" "$B/ginkgo" version
echo "$ginkgo_ver" > "$OUT/ginkgo.version"
touch "$OUT/.done"
say "e2e programs of kubernetes $VER: $(cd "$B" && du -sh * | tr '\t\n' ': ')"
