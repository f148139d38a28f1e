#!/usr/bin/env bash
# Builds the Kubernetes programs of one release from the k8s.io/kubernetes module:
#   kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl
# into $EZ_REAL_CACHE/kubernetes/<version>/bin, with the version ldflags upstream's release
# build sets (hack/lib/version.sh), so `--version` and `/version` report the real version.
#
# The wrapper module requires k8s.io/kubernetes and replaces every staging module its go.mod
# lists (`k8s.io/x => ./staging/src/k8s.io/x`) by the published v0.N.P of the same release; the
# list is read from that go.mod, never hard-coded.
# Usage: build-kube.sh vX.Y.Z [extra packages...]
. "$(dirname "$0")/lib.sh"
VER=${1:?usage: build-kube.sh vX.Y.Z}
shift || true
served_or_die k8s.io/kubernetes "$VER"
OUT="$EZ_REAL_CACHE/kubernetes/$VER"
if stamp_ok "$OUT" && [ $# -eq 0 ]; then say "kubernetes $VER cached in $OUT"; exit 0; fi
cached_only_or_die "kubernetes $VER"
MOD="$OUT/module"
mkdir -p "$MOD" "$OUT/bin"
kube_wrapper_module "$MOD" "$VER"
pkgs=(cmd/kube-apiserver cmd/kube-controller-manager cmd/kube-scheduler cmd/kubelet cmd/kube-proxy cmd/kubectl)
[ $# -gt 0 ] && pkgs=("$@")
full=()
for p in "${pkgs[@]}"; do full+=("k8s.io/kubernetes/$p"); done
ld=$(kube_ldflags "$VER")
cd "$MOD"
say "building ${pkgs[*]} of kubernetes $VER (cold: tens of minutes on 2 cores)"
go build -mod=mod -trimpath -ldflags "$ld" -o "$OUT/bin/" "${full[@]}"
[ $# -eq 0 ] && touch "$OUT/.done"
say "kubernetes $VER: $(ls "$OUT/bin" | tr '\n' ' ')"
