#!/usr/bin/env bash
# Assembles the images of the bundle from the built binaries, without docker: umoci makes an
# OCI layout per image under $EZ_REAL_CACHE/images/<name>_<tag> (cached: a .done stamp), with
# upstream's name, tag, entrypoint and user.
#
#   images.sh coredns VER | metrics-server VER | pause VER | flannel VER | flannel-cni-plugin TAG CNIVER
#   images.sh busybox VER   (Debian's busybox-static: the workload image of tests/real/run)
#
# Prints the layout path ("<dir>:<tag>") on stdout.
. "$(dirname "$0")/lib.sh"
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
  busybox) name=busybox; bin=/bin/busybox ;;
  *) die "unknown image $KIND" ;;
esac
[ -x "$bin" ] || die "$KIND: $bin is not built"
L="$IMG/${name}_$VER"
# The stamp records this script and the binary it packs: a change to either remakes the image.
RECIPE=$(cat "$0" "$bin" | sha256sum | cut -c1-16)
if stamp_ok "$L" && [ "$(cat "$L/.done")" = "$RECIPE" ]; then echo "$L:$VER"; exit 0; fi

# A distroless-like base: root, nobody (65534) and nonroot (65532) users, /tmp, CA
# certificates (Debian's ca-certificates bundle of this machine).
static_base() {
  local r=$1
  mkdir -p "$r/etc/ssl/certs" "$r/tmp"
  chmod 1777 "$r/tmp"
  cp /etc/ssl/certs/ca-certificates.crt "$r/etc/ssl/certs/ca-certificates.crt"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > "$r/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n' > "$r/etc/group"
}

P="$L.partial"
rm -rf "$P"
trap "exit 130" INT; trap "exit 143" TERM
trap 'rc=$?; [ $rc -eq 0 ] || { rm -rf "$P"; say "image $KIND $VER: failed, nothing kept"; }' EXIT
umoci init --layout "$P"
umoci new --image "$P:$VER"
umoci unpack --image "$P:$VER" "$P/bundle" >/dev/null
R="$P/bundle/rootfs"
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
    # Debian's busybox-static with every applet linked (sh, httpd, wget, nc, nslookup, ...).
    [ -x /bin/busybox ] || die "busybox needs busybox-static (apt-get install busybox-static)"
    static_base "$R"
    mkdir -p "$R/bin"
    install -m 0755 /bin/busybox "$R/bin/busybox"
    for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$R/bin/$a"; done
    cfg=(--config.cmd sh) ;;
  flannel)
    # Upstream: alpine + iproute2 ca-certificates nftables iptables iptables-legacy (and
    # strongswan/wireguard-tools for those backends), /opt/bin/{flanneld,install-conf,
    # mk-docker-opts.sh}. Here: a Debian bookworm rootfs (mmdebstrap) with the same userland
    # from Debian packages: iptables (iptables-nft and iptables-legacy, ip6tables), nftables,
    # iproute2, ipset, ca-certificates. Cached by itself (the rootfs does not depend on VER).
    rootfs="$EZ_REAL_CACHE/rootfs/flannel-bookworm"
    if ! stamp_ok "$rootfs"; then
      command -v mmdebstrap >/dev/null || die "flannel image needs mmdebstrap (apt-get install mmdebstrap)"
      rm -rf "$rootfs" "$rootfs.partial"
      mkdir -p "$(dirname "$rootfs")"
      say "flannel image: a bookworm rootfs with iptables nftables iproute2 ipset (mmdebstrap)"
      timed flannel-rootfs mmdebstrap --quiet --variant=essential \
        --include=iptables,nftables,iproute2,ipset,ca-certificates \
        --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
        --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
        --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/*' \
        bookworm "$rootfs.partial"
      mv "$rootfs.partial" "$rootfs"
      touch "$rootfs/.done"
    fi
    tar -C "$rootfs" --exclude=./.done -cf - . | tar -C "$R" -xpf -
    fb="$EZ_REAL_CACHE/flannel/$VER/bin"
    mkdir -p "$R/opt/bin"
    install -m 0755 "$fb/flanneld" "$fb/install-conf" "$fb/mk-docker-opts.sh" "$R/opt/bin/"
    cfg=(--config.entrypoint /opt/bin/flanneld) ;;
esac
umoci repack --image "$P:$VER" --history.created_by "tests/real/images.sh $KIND $VER" "$P/bundle" >/dev/null
# PATH as distroless and alpine images set it (a pod's `command: [cp]` is looked up in it).
umoci config --image "$P:$VER" --os linux --architecture amd64 \
  --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "${cfg[@]}" \
  --history.created_by "tests/real/images.sh: config" >/dev/null
rm -rf "$P/bundle"
umoci gc --layout "$P"
rm -rf "$L"
mv "$P" "$L"
echo "$RECIPE" > "$L/.done"
trap - EXIT
say "image $KIND $VER: $(du -sh "$L" | cut -f1) in $L"
echo "$L:$VER"
