#!/usr/bin/env bash
# Builds one component from its Go module (fetched by name through the Go module proxy) into
# $EZ_REAL_CACHE/<component>/<version>/bin, with the build tags and version ldflags its
# upstream release build uses, and checks that the programs report that version.
#
#   build.sh etcd v3.7.1 | containerd 2.3.4 | runc v1.5.1 | cni-plugins v1.9.1
#   build.sh flannel-cni v0.9.1 | crictl v1.37.0 | helm v4.2.3 | coredns 1.14.6
#   build.sh metrics-server v0.8.0 | flannel v0.28.10 | pause 3.10.2 (from kubernetes KVER)
#   build.sh sample-apiserver v0.36.3 (the e2e aggregator test's image program)
#
# The build happens in <version>.partial and is renamed into place with a .done stamp only
# when complete, so an interrupted build leaves nothing that looks built; running it again
# resumes quickly from Go's build cache. Peak memory and wall time: logs/<component>.time.
. "$(dirname "$0")/lib.sh"
COMP=${1:?usage: build.sh COMPONENT VERSION}
VER=${2:?usage: build.sh COMPONENT VERSION}
OUT="$EZ_REAL_CACHE/$COMP/$VER"
# How a component is built, when that changed since a cached build: kept in its stamp, and a
# cached build with another recipe is made again.
case "$COMP" in
  sample-apiserver) RECIPE="recipe: go build of the module root, no version ldflags" ;;
  *) RECIPE="" ;;
esac
if stamp_ok "$OUT" && { [ -z "$RECIPE" ] || grep -qxF "$RECIPE" "$OUT/.done"; }; then
  say "$COMP $VER cached in $OUT"; exit 0
fi
cached_only_or_die "$COMP $VER"

vplain=${VER#v}
case "$COMP" in
  etcd) MOD=go.etcd.io/etcd/server/v3 ;;
  containerd) MOD=github.com/containerd/containerd/v2; VER=v$vplain ;;
  runc) MOD=github.com/opencontainers/runc ;;
  cni-plugins | flannel-cni) MOD=github.com/containernetworking/plugins ;;
  crictl) MOD=sigs.k8s.io/cri-tools ;;
  helm) MOD=helm.sh/helm/v4 ;;
  coredns) MOD=github.com/coredns/coredns; VER=v$vplain ;;
  metrics-server) MOD=sigs.k8s.io/metrics-server ;;
  flannel) MOD=github.com/flannel-io/flannel ;;
  pause) MOD=k8s.io/kubernetes; KVER=${3:-${EZ_REAL_KUBERNETES:-v1.36.3}} ;;
  sample-apiserver) MOD=k8s.io/sample-apiserver ;;
  *) die "unknown component $COMP" ;;
esac
if [ "$COMP" = pause ]; then served_or_die "$MOD" "$KVER"; else served_or_die "$MOD" "$VER"; fi
# Some modules name a go/toolchain line newer than the local Go: the proxy serves that
# toolchain as a module (golang.org/toolchain), fetched by name like any other module.
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"

P="$OUT.partial"
rm -rf "$P"
trap "exit 130" INT; trap "exit 143" TERM
trap 'rc=$?; [ $rc -eq 0 ] || { rm -rf "$P"; say "$COMP $VER: build failed, nothing kept"; }' EXIT
mkdir -p "$P/bin"
B="$P/bin"
say "building $COMP $VER from $MOD"

case "$COMP" in
  etcd)
    # etcd, etcdctl and etcdutl are three main modules of the etcd repository; each is built
    # by import path in a wrapper module of its own (its own requirements, as upstream's
    # build.sh builds each in its directory). Upstream: CGO_ENABLED=0, -X ...GitSHA.
    ld="-s -w"
    timed etcd gobuild "$P/etcd" go.etcd.io/etcd/server/v3 "$VER" -ldflags "$ld" -o "$B/etcd" go.etcd.io/etcd/server/v3
    served_or_die go.etcd.io/etcd/etcdctl/v3 "$VER"
    timed etcdctl gobuild "$P/etcdctl" go.etcd.io/etcd/etcdctl/v3 "$VER" -ldflags "$ld" -o "$B/etcdctl" go.etcd.io/etcd/etcdctl/v3
    served_or_die go.etcd.io/etcd/etcdutl/v3 "$VER"
    timed etcdutl gobuild "$P/etcdutl" go.etcd.io/etcd/etcdutl/v3 "$VER" -ldflags "$ld" -o "$B/etcdutl" go.etcd.io/etcd/etcdutl/v3
    expect_version etcd "etcd Version: $vplain" "$B/etcd" --version
    expect_version etcdctl "etcdctl version: $vplain" "$B/etcdctl" version
    expect_version etcdutl "etcdutl version: $vplain" "$B/etcdutl" version
    ;;
  containerd)
    # Upstream's static release: `make STATIC=1` = tags osusergo netgo static_build (+
    # urfave_cli_no_docs), -extldflags -static; the shim also no_grpc and CGO_ENABLED=0.
    # CGO_ENABLED=0 here for all three; btrfs needs cgo and is left out (no_btrfs).
    pkg=github.com/containerd/containerd/v2
    vld="-X $pkg/version.Version=$VER -X $pkg/version.Package=$pkg -s -w"
    tags="urfave_cli_no_docs osusergo netgo static_build no_btrfs"
    timed containerd gobuild "$P" "$pkg" "$VER" -tags "$tags" -ldflags "$vld" -o "$B/" "$pkg/cmd/containerd" "$pkg/cmd/ctr"
    timed containerd-shim gobuild "$P" "$pkg" "$VER" -tags "$tags no_grpc" -ldflags "$vld" -o "$B/" "$pkg/cmd/containerd-shim-runc-v2"
    expect_version containerd "containerd $pkg $VER" "$B/containerd" --version
    expect_version ctr "ctr github.com/containerd/containerd/v2 $VER" "$B/ctr" --version
    expect_version containerd-shim-runc-v2 "Version:  $VER" "$B/containerd-shim-runc-v2" -v
    ;;
  runc)
    # Upstream `make static`: cgo, tags seccomp urfave_cli_no_docs (+ libpathrs, a Rust
    # library Debian does not package: left out, runc then uses its Go pathrs-lite) netgo
    # osusergo, -extldflags -static; libseccomp.a from Debian's libseccomp-dev. The version
    # comes from the VERSION file embedded in the module.
    [ -f /usr/lib/x86_64-linux-gnu/libseccomp.a ] || [ -n "$(find /usr/lib -name libseccomp.a 2>/dev/null | head -1)" ] \
      || die "runc needs libseccomp-dev (apt-get install libseccomp-dev)"
    CGO_ENABLED=1 timed runc gobuild "$P" "$MOD" "$VER" -tags "seccomp urfave_cli_no_docs netgo osusergo" \
      -ldflags "-s -w -extldflags -static" -o "$B/runc" "$MOD"
    expect_version runc "runc version $vplain" "$B/runc" --version
    expect_version runc-seccomp "libseccomp:" "$B/runc" --version
    ;;
  cni-plugins)
    # Upstream's release.sh: CGO_ENABLED=0, -extldflags -static, BuildVersion ldflag; every
    # plugin under plugins/{meta,main,ipam} except windows.
    dir=$(gomod_dir "$MOD" "$VER")
    pkgs=()
    for d in "$dir"/plugins/meta/* "$dir"/plugins/main/* "$dir"/plugins/ipam/*; do
      [ -d "$d" ] || continue
      n=$(basename "$d"); [ "$n" = windows ] && continue
      pkgs+=("$MOD/${d#"$dir"/}")
    done
    timed cni-plugins gobuild "$P" "$MOD" "$VER" \
      -ldflags "-s -w -extldflags -static -X $MOD/pkg/utils/buildversion.BuildVersion=$VER" -o "$B/" "${pkgs[@]}"
    for f in "$B"/*; do
      expect_version "cni $(basename "$f")" "$VER" env -i "$f"
    done
    ;;
  flannel-cni)
    # The flannel CNI plugin: upstream now ships it from github.com/flannel-io/cni-plugin
    # (not served by the proxy). containernetworking/plugins carried the same plugin in
    # plugins/meta/flannel until v0.9.1 (removed in v1.0.0; v1.0.1 has no flannel).
    [ -d "$(gomod_dir "$MOD" "$VER")/plugins/meta/flannel" ] || die "$MOD $VER has no plugins/meta/flannel"
    timed flannel-cni gobuild "$P" "$MOD" "$VER" \
      -ldflags "-s -w -extldflags -static -X $MOD/pkg/utils/buildversion.BuildVersion=$VER" -o "$B/flannel" "$MOD/plugins/meta/flannel"
    expect_version "flannel cni plugin" "$VER" env -i "$B/flannel"
    ;;
  crictl)
    # Upstream Makefile: CGO_ENABLED=0, -X pkg/version.Version=<tag without v>.
    timed crictl gobuild "$P" "$MOD" "$VER" -ldflags "-s -w -X $MOD/pkg/version.Version=$vplain" -o "$B/crictl" "$MOD/cmd/crictl"
    expect_version crictl "crictl version $vplain" "$B/crictl" --version
    ;;
  helm)
    # Upstream Makefile: CGO_ENABLED=0, -X internal/version.version=<tag>, gitTreeState,
    # metadata empty for a tag; build-cross adds -extldflags -static.
    v=helm.sh/helm/v4/internal/version
    timed helm gobuild "$P" "$MOD" "$VER" \
      -ldflags "-s -w -extldflags -static -X $v.version=$VER -X $v.metadata= -X $v.gitTreeState=clean" -o "$B/helm" "$MOD/cmd/helm"
    expect_version helm "Version:\"$VER\"" "$B/helm" version
    ;;
  coredns)
    # Upstream Makefile: CGO_ENABLED=0, the main package at the module root; the version is
    # a constant in coremain (GitCommit is the only ldflag and needs a git tree).
    timed coredns gobuild "$P" "$MOD" "$VER" -ldflags "-s -w" -o "$B/coredns" "$MOD"
    expect_version coredns "CoreDNS-$vplain" "$B/coredns" -version
    ;;
  metrics-server)
    # Upstream Makefile: CGO_ENABLED=0, client-go's version ldflags with the tag.
    vp=k8s.io/client-go/pkg/version
    bd=$(date -u -d "@$(stat -c %Y "$(gomod_file "$MOD" "$VER")")" +%Y-%m-%dT%H:%M:%SZ)
    timed metrics-server gobuild "$P" "$MOD" "$VER" \
      -ldflags "-w -X $vp.gitVersion=$VER -X $vp.buildDate=$bd" -o "$B/metrics-server" "$MOD/cmd/metrics-server"
    expect_version metrics-server "$VER" "$B/metrics-server" --version
    ;;
  flannel)
    # Upstream Makefile on amd64: CGO_ENABLED=1 (the UDP backend), -extldflags -static (with musl),
    # -X pkg/version.Version=<tag>; the image also carries cmd/install_conf (CGO_ENABLED=0).
    # flanneld's main.go links every backend in with a blank import. The Tencent Cloud VPC
    # backend needs github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vpc, whose zip
    # the proxy does not serve. When it is missing, flanneld's main package is built from a
    # copy of the module's own main.go without that one import line, generated into the
    # wrapper module in the cache (the go command refuses overlays of the module cache); every
    # other package comes from the flannel module as is, so flanneld has every backend
    # (vxlan, host-gw, udp, wireguard, ipsec, ipip, extension, cloud routes) but Tencent's.
    dir=$(gomod_dir "$MOD" "$VER")
    main_pkg=$MOD
    tvpc=github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vpc
    tver=$(awk -v m="$tvpc" '$1==m{print $2}' "$(gomod_file "$MOD" "$VER")")
    if [ -n "$tver" ] && ! go mod download "$tvpc@$tver" >/dev/null 2>&1; then
      say "substitution: flanneld $VER without its tencentvpc backend ($tvpc $tver is not served by the Go module proxy)"
      mkdir -p "$P/module/flanneld"
      grep -v '"github.com/flannel-io/flannel/pkg/backend/tencentvpc"' "$dir/main.go" > "$P/module/flanneld/main.go"
      main_pkg=./flanneld
      echo "flanneld: main.go of $MOD $VER without the tencentvpc backend import" > "$P/NOTE"
    fi
    # (netgo osusergo: the resolver and user lookups in Go, not glibc NSS in a static binary)
    CGO_ENABLED=1 timed flannel gobuild "$P" "$MOD" "$VER" -tags "netgo osusergo" \
      -ldflags "-s -w -X $MOD/pkg/version.Version=$VER -extldflags -static" -o "$B/flanneld" "$main_pkg"
    timed flannel-install-conf gobuild "$P" "$MOD" "$VER" -ldflags "-s -w" -o "$B/install-conf" "$MOD/cmd/install_conf"
    cp "$(gomod_dir "$MOD" "$VER")/dist/mk-docker-opts.sh" "$B/"
    chmod 0755 "$B/mk-docker-opts.sh"
    expect_version flanneld "$VER" "$B/flanneld" --version
    ;;
  sample-apiserver)
    # test/images/sample-apiserver/Makefile: a checkout of k8s.io/sample-apiserver at a tag,
    # CGO_ENABLED=0 go build of the module root, no version ldflags: the program then reports
    # component-base's default binary version (1.NN). A gitVersion of the module's own tag
    # (v0.NN.x) made it refuse to start ("emulation version 1.NN is not between [1.31,
    # 0.NN.0]"), which failed the aggregator [Conformance] test.
    CGO_ENABLED=0 timed sample-apiserver gobuild "$P" "$MOD" "$VER" \
      -ldflags "-s -w" -o "$B/sample-apiserver" "$MOD"
    [ -x "$B/sample-apiserver" ] || die "no sample-apiserver built"
    ;;
  pause)
    # build/pause/linux/pause.c of the kubernetes module, as build/pause/Makefile compiles
    # it (-Os -Wall -Werror -static -DVERSION=v$(TAG)-$(REV); REV is a git describe, absent
    # in a module: the kubernetes version stands in).
    src="$(gomod_dir "$MOD" "$KVER")/build/pause/linux/pause.c"
    [ -f "$src" ] || die "no build/pause/linux/pause.c in $MOD $KVER"
    timed pause gcc -Os -Wall -Werror -static "-DVERSION=v$vplain-$KVER" -o "$B/pause" "$src"
    strip "$B/pause"
    expect_version pause "pause.c v$vplain" "$B/pause" -v
    ;;
esac
(cd "$B" && file -- *) 2>/dev/null | sed -E "s/, (Go )?BuildID[^,]*//g; s/ +/ /g" | while read -r l; do say "  $l"; done || true
rm -rf "$OUT"
mv "$P" "$OUT"
printf '%s\n' "$RECIPE" > "$OUT/.done"
trap - EXIT
say "$COMP $VER: $(ls "$OUT/bin" | tr '\n' ' ')"
