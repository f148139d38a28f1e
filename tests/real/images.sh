#!/usr/bin/env bash
# Assembles the images of the bundle from the built binaries, without docker: umoci makes an
# OCI layout per image under $EZ_REAL_CACHE/images/<name>_<tag> (cached: a .done stamp), with
# upstream's name, tag, entrypoint and user.
#
#   images.sh coredns VER | metrics-server VER | pause VER | flannel VER | flannel-cni-plugin TAG CNIVER
#   images.sh busybox VER   (busybox as upstream ships it, built by build-busybox.sh from
#                            Debian's source: the workload image of tests/real/run and the
#                            e2e busybox images)
#
# Prints the layout path ("<dir>:<tag>") on stdout.
. "$(dirname "$0")/lib.sh"
. "$REAL_DIR/oci.sh"
KIND=${1:?usage: images.sh KIND VERSION}
VER=${2:?usage: images.sh KIND VERSION}
IMG="$EZ_REAL_CACHE/images"
mkdir -p "$IMG"
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-0}

case "$KIND" in
  coredns) name=coredns; bin="$EZ_REAL_CACHE/coredns/$VER/bin/coredns" ;;
  metrics-server) name=metrics-server; bin="$EZ_REAL_CACHE/metrics-server/$VER/bin/metrics-server" ;;
  pause) name=pause; bin="$EZ_REAL_CACHE/pause/$VER/bin/pause" ;;
  flannel) name=flannel; bin="$EZ_REAL_CACHE/flannel/$VER/bin/flanneld" ;;
  flannel-cni-plugin) name=flannel-cni-plugin; CNIVER=${3:?flannel-cni-plugin TAG CNIVERSION}
    bin="$EZ_REAL_CACHE/flannel-cni/$CNIVER/bin/flannel" ;;
  busybox) name=busybox; bin=$("$REAL_DIR/build-busybox.sh") || die "busybox: the build failed" ;;
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
  coredns)
    # Upstream: distroless static nonroot, /coredns with cap_net_bind_service, USER nonroot.
    static_base "$R"
    install -m 0755 "$bin" "$R/coredns"
    setcap cap_net_bind_service=+ep "$R/coredns"
    cfg=(--config.entrypoint /coredns --config.user 65532:65532 --config.workingdir /
         --config.exposedports 53/tcp --config.exposedports 53/udp) ;;
  metrics-server)
    # Upstream: distroless static, /metrics-server, USER 65534.
    static_base "$R"
    install -m 0755 "$bin" "$R/metrics-server"
    cfg=(--config.entrypoint /metrics-server --config.user 65534) ;;
  pause)
    # Upstream (build/pause/Dockerfile): scratch, /pause, USER 65535:65535.
    install -m 0755 "$bin" "$R/pause"
    cfg=(--config.entrypoint /pause --config.user 65535:65535) ;;
  flannel-cni-plugin)
    # Upstream's image carries /flannel and a busybox userland for the manifest's
    # `cp -f /flannel /opt/cni/bin/flannel`: Debian's busybox-static stands in.
    [ -x /bin/busybox ] || die "flannel-cni-plugin needs busybox-static (apt-get install busybox-static)"
    mkdir -p "$R/bin"
    install -m 0755 /bin/busybox "$R/bin/busybox"
    for a in sh cp mv rm ls cat mkdir chmod ln echo test; do ln -s busybox "$R/bin/$a"; done
    install -m 0755 "$bin" "$R/flannel"
    cfg=(--config.cmd /bin/sh) ;;
  busybox)
    # A static busybox with every applet linked (sh, httpd, wget, nc, nslookup, ...), built
    # from Debian's source without Debian's two ash patches on the environment: its ash, as
    # upstream's, passes variables whose names are no shell identifiers (`data-1`) on, which
    # the ConfigMap/Secret "consumable via the environment" specs read through `sh -c env`;
    # and [Conformance] specs compare ash's messages ("/bin/sh: can't create /file:
    # Read-only file system"), so sh stays busybox's.
    static_base "$R"
    mkdir -p "$R/bin"
    install -m 0755 "$bin" "$R/bin/busybox"
    for a in $("$bin" --list); do [ "$a" = busybox ] || ln -sf busybox "$R/bin/$a"; done
    cfg=(--config.cmd sh) ;;
  flannel)
    # Upstream: alpine + iproute2 ca-certificates nftables iptables iptables-legacy (and
    # strongswan/wireguard-tools for those backends), /opt/bin/{flanneld,install-conf,
    # mk-docker-opts.sh}. Here: a Debian bookworm rootfs (mmdebstrap) with the same userland
    # from Debian packages: iptables (iptables-nft and iptables-legacy, ip6tables), nftables,
    # iproute2, ipset, ca-certificates. Cached by itself (the rootfs does not depend on VER).
    debian_rootfs flannel-bookworm iptables,nftables,iproute2,ipset,ca-certificates
    unpack_rootfs flannel-bookworm "$R"
    fb="$EZ_REAL_CACHE/flannel/$VER/bin"
    mkdir -p "$R/opt/bin"
    install -m 0755 "$fb/flanneld" "$fb/install-conf" "$fb/mk-docker-opts.sh" "$R/opt/bin/"
    cfg=(--config.entrypoint /opt/bin/flanneld) ;;
esac
image_finish "$L" "$VER" "$RECIPE" "${cfg[@]}"
