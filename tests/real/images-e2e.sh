#!/usr/bin/env bash
# Assembles the conformance image and the e2e test images (EZ_REAL_CONFORMANCE=1 tests/real/up)
# from the built programs, as images.sh does (umoci, an OCI layout per image under
# $EZ_REAL_CACHE/images/<name>_<tag>, cached with a .done stamp), under the names and tags
# `e2e.test --list-images` prints; upstream's layout, entrypoint and user, the userland from
# Debian's packages (mmdebstrap) where upstream's Dockerfile installs one:
#
#   images-e2e.sh conformance KVER | agnhost TAG KVER | kitten TAG KVER | nautilus TAG KVER
#   images-e2e.sh nonewprivs TAG KVER | nonroot TAG | glibc-dns-testing TAG | nginx TAG
#   images-e2e.sh sample-apiserver TAG SAVER | etcd TAG ETCDVER
#
# (busybox and pause are images.sh's; the steps both share are in oci.sh.) Prints the layout
# path ("<dir>:<tag>") on stdout.
. "$(dirname "$0")/lib.sh"
. "$REAL_DIR/oci.sh"
# alpine_rootfs NAME: the root filesystem of Alpine Linux 3.20.2 (docker.io/library/alpine,
# amd64, one layer: diff_id sha256:78561cef…), as `docker save` keeps it in the test data of
# the Go module github.com/google/osv-scalibr@v0.5.3 (Apache-2.0; the files are Alpine's own,
# under their packages' licences). It is the one Alpine reachable here (through the Go module
# proxy), for images upstream builds FROM alpine whose tests read it (kitten: ImageVolume wants
# "Alpine Linux" in /etc/os-release). Checked by hash, cached in rootfs/NAME.
ALPINE_MODULE=github.com/google/osv-scalibr
ALPINE_MODULE_VERSION=v0.5.3
ALPINE_TAR=artifact/image/layerscanning/image/testdata/alpine.tar
ALPINE_TAR_SHA256=543f09236e945ecbf0f33bc07c6c263ea102414889b56343376735b9acc27772
ALPINE_LAYER_SHA256=78561cef0761903dd2f7d09856150a6d4fb48967a8f113f3e33d79effbf59a07
alpine_rootfs() {
  local name=$1 rootfs="$EZ_REAL_CACHE/rootfs/$1" dir tmp layer
  stamp_ok "$rootfs" && [ "$(cat "$rootfs/.done")" = "$ALPINE_LAYER_SHA256" ] && return 0
  cached_only_or_die "rootfs $name"
  dir=$(gomod_dir "$ALPINE_MODULE" "$ALPINE_MODULE_VERSION")
  [ -f "$dir/$ALPINE_TAR" ] || die "$ALPINE_MODULE@$ALPINE_MODULE_VERSION has no $ALPINE_TAR"
  echo "$ALPINE_TAR_SHA256  $dir/$ALPINE_TAR" | sha256sum -c --quiet - \
    || die "$ALPINE_TAR of $ALPINE_MODULE@$ALPINE_MODULE_VERSION is not the one recorded"
  tmp=$(mktemp -d)
  tar -C "$tmp" -xf "$dir/$ALPINE_TAR"
  layer=$(find "$tmp" -name layer.tar | head -1)
  echo "$ALPINE_LAYER_SHA256  $layer" | sha256sum -c --quiet - \
    || { rm -rf "$tmp"; die "the Alpine layer is not the one recorded"; }
  rm -rf "$rootfs" "$rootfs.partial"
  mkdir -p "$rootfs.partial"
  tar -C "$rootfs.partial" -xpf "$layer"
  rm -rf "$tmp"
  grep -q 'Alpine Linux' "$rootfs.partial/etc/os-release" || die "no Alpine os-release in the layer"
  mv "$rootfs.partial" "$rootfs"
  printf '%s' "$ALPINE_LAYER_SHA256" > "$rootfs/.done"
}

KIND=${1:?usage: images-e2e.sh KIND VERSION}
VER=${2:?usage: images-e2e.sh KIND VERSION}
IMG="$EZ_REAL_CACHE/images"
mkdir -p "$IMG"
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-0}

case "$KIND" in
  conformance) name=conformance; E2E="$EZ_REAL_CACHE/kubernetes/$VER/e2e/bin"; bin="$E2E/e2e.test" ;;
  agnhost | kitten | nautilus | nonewprivs) name=$KIND
    KVER=${3:?$KIND TAG KUBERNETES_VERSION}; E2E="$EZ_REAL_CACHE/kubernetes/$KVER/e2e/bin"
    bin="$E2E/agnhost"; [ "$KIND" = nonewprivs ] && bin="$E2E/nnp" ;;
  nonroot | glibc-dns-testing | nginx) name=$KIND; bin="$0" ;;
  sample-apiserver) name=$KIND; bin="$EZ_REAL_CACHE/sample-apiserver/${3:?sample-apiserver TAG VERSION}/bin/sample-apiserver" ;;
  etcd) name=etcd; bin="$EZ_REAL_CACHE/etcd/${3:?etcd TAG ETCDVERSION}/bin/etcd" ;;
  *) die "unknown image $KIND" ;;
esac
[ -x "$bin" ] || die "$KIND: $bin is not built"
L="$IMG/${name}_$VER"
# The stamp records this script, oci.sh and the binary it packs: a change remakes the image.
RECIPE=$(image_recipe "$bin")
if image_cached "$L" "$RECIPE"; then echo "$L:$VER"; exit 0; fi
image_begin "$L" "$VER"
cfg=()
case "$KIND" in
  conformance)
    # Upstream (test/conformance/image/Dockerfile): FROM debian-base (bookworm), COPY cluster
    # /kubernetes/cluster, ginkgo e2e.test kubectl into /usr/local/bin, go-runner as
    # /usr/local/bin/kubeconformance (and the legacy /run_e2e.sh, /gorunner), the E2E_* env,
    # ENTRYPOINT kubeconformance. debian-base here: a bookworm essential rootfs.
    debian_rootfs debian-base-bookworm ca-certificates
    unpack_rootfs debian-base-bookworm "$R"
    for f in e2e.test ginkgo go-runner; do [ -x "$E2E/$f" ] || die "conformance: $E2E/$f is not built"; done
    kb="$EZ_REAL_CACHE/kubernetes/$VER/bin/kubectl"
    [ -x "$kb" ] || die "conformance: $kb is not built"
    mkdir -p "$R/usr/local/bin" "$R/kubernetes"
    install -m 0755 "$E2E/e2e.test" "$E2E/ginkgo" "$kb" "$R/usr/local/bin/"
    install -m 0755 "$E2E/go-runner" "$R/usr/local/bin/kubeconformance"
    install -m 0755 "$E2E/go-runner" "$R/run_e2e.sh"
    install -m 0755 "$E2E/go-runner" "$R/gorunner"
    cp -r "$(gomod_dir k8s.io/kubernetes "$VER")/cluster" "$R/kubernetes/cluster"
    chmod -R u+w "$R/kubernetes/cluster"
    cfg=(--config.entrypoint kubeconformance
         --config.env 'E2E_FOCUS=\[Conformance\]' --config.env E2E_SKIP= --config.env E2E_PROVIDER=local
         --config.env E2E_PARALLEL=1 --config.env E2E_VERBOSITY=4 --config.env RESULTS_DIR=/tmp/results
         --config.env KUBECONFIG=) ;;
  agnhost | kitten | nautilus)
    # Upstream (test/images/agnhost/Dockerfile): alpine + bind-tools curl netcat-openbsd
    # iproute2 iperf bash util-linux-misc; /agnhost and /agnhost-2, porter's localhost.crt/key,
    # /uploads, user-defined-in-image (1000) in group-defined-in-image (50000); ENTRYPOINT
    # /agnhost, CMD pause. Here: a bookworm rootfs with the same tools from Debian packages.
    # Not carried: /coredns (a CoreDNS v1.6.2 release tarball) and /var/registry (the fake
    # registry's images, fetched with crane from the internet). kitten and nautilus (FROM agnhost,
    # plus their html/ files, CMD test-webserver) are built on the same tree.
    # kitten (ImageVolume reads its /etc/os-release and wants "Alpine Linux") is laid on
    # Alpine 3.20.2's own root filesystem (oci.sh alpine_rootfs) with agnhost's files, without
    # the apk packages (Alpine's package mirror is not reachable here): a volume in that test,
    # a web server (/agnhost is static) elsewhere.
    if [ "$KIND" = kitten ]; then
      alpine_rootfs alpine-3.20.2
      unpack_rootfs alpine-3.20.2 "$R"
    else
      debian_rootfs agnhost-bookworm bind9-dnsutils,curl,netcat-openbsd,iproute2,iperf,ca-certificates
      unpack_rootfs agnhost-bookworm "$R"
    fi
    kdir=$(gomod_dir k8s.io/kubernetes "$KVER")/test/images
    install -m 0755 "$bin" "$R/agnhost"
    ln -s agnhost "$R/agnhost-2"
    mkdir -p "$R/uploads" "$R/usr/local/bin"
    ln -sf /usr/bin/iperf "$R/usr/local/bin/iperf"
    install -m 0644 "$kdir/agnhost/porter/localhost.crt" "$kdir/agnhost/porter/localhost.key" "$R/"
    echo 'user-defined-in-image:x:1000:1000::/home/user-defined-in-image:/bin/sh' >> "$R/etc/passwd"
    echo 'user-defined-in-image:!:19000::::::' >> "$R/etc/shadow"
    printf 'user-defined-in-image:x:1000:\ngroup-defined-in-image:x:50000:user-defined-in-image\n' >> "$R/etc/group"
    cmd=pause
    if [ "$KIND" != agnhost ]; then
      install -m 0644 "$kdir/$KIND/html/$KIND.jpg" "$kdir/$KIND/html/data.json" "$R/"
      cmd=test-webserver
    fi
    cfg=(--config.entrypoint /agnhost --config.cmd "$cmd" --config.exposedports 80/tcp --config.exposedports 8080/tcp
         --config.exposedports 8081/tcp --config.exposedports 9376/tcp --config.exposedports 5000/tcp) ;;
  nonewprivs)
    # Upstream: alpine + /usr/local/bin/nnp (test/images/nonewprivs) setuid, CMD nnp.
    static_base "$R"
    mkdir -p "$R/usr/local/bin"
    install -m 4755 "$bin" "$R/usr/local/bin/nnp"
    cfg=(--config.cmd nnp) ;;
  nonroot)
    # Upstream: debian-base, USER 1234.
    debian_rootfs debian-base-bookworm ca-certificates
    unpack_rootfs debian-base-bookworm "$R"
    cfg=(--config.user 1234) ;;
  glibc-dns-testing)
    # Upstream: debian bookworm-slim + dnsutils (+ /coredns of a CoreDNS v1.5.0 release
    # tarball: not carried).
    debian_rootfs dnsutils-bookworm bind9-dnsutils
    unpack_rootfs dnsutils-bookworm "$R" ;;
  nginx)
    # Upstream: the nginx image (alpine), listening on 80, logs to stdout/stderr, nginx -g
    # 'daemon off;'. Here: Debian's nginx in a bookworm rootfs, default site on port 80.
    debian_rootfs nginx-bookworm nginx,ca-certificates
    unpack_rootfs nginx-bookworm "$R"
    ln -sf /dev/stdout "$R/var/log/nginx/access.log"
    # IPv4 only, as upstream's default.conf (listen 80): a pod without IPv6 still starts
    sed -i '/listen \[::\]:80 default_server;/d' "$R/etc/nginx/sites-enabled/default"
    ln -sf /dev/stderr "$R/var/log/nginx/error.log"
    cfg=(--config.cmd nginx --config.cmd -g --config.cmd 'daemon off;' --config.exposedports 80/tcp) ;;
  sample-apiserver)
    # Upstream: alpine + /sample-apiserver, ENTRYPOINT /sample-apiserver.
    static_base "$R"
    install -m 0755 "$bin" "$R/sample-apiserver"
    cfg=(--config.entrypoint /sample-apiserver) ;;
  etcd)
    # Upstream (cluster/images/etcd): etcd, etcdctl, etcdutl in /usr/local/bin of a
    # distroless base; the e2e tests start /usr/local/bin/etcd by path.
    static_base "$R"
    mkdir -p "$R/usr/local/bin" "$R/var/etcd"
    install -m 0755 "$(dirname "$bin")"/etcd* "$R/usr/local/bin/" ;;
esac
image_finish "$L" "$VER" "$RECIPE" "${cfg[@]}"
