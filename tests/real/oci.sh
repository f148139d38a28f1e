# Shared by images.sh and images-e2e.sh (sourced after lib.sh): the steps of assembling one
# image with umoci into an OCI layout under $EZ_REAL_CACHE/images/<name>_<tag>, cached with a
# .done stamp holding its recipe (the script, this file and the packed binary), and the bases
# the images are laid on.

# image_recipe FILE...: the cache key of an image made from FILEs by the calling script.
image_recipe() { cat "$0" "$REAL_DIR/oci.sh" "$@" | sha256sum | cut -c1-16; }

# image_cached LAYOUT RECIPE: the layout exists and was made from RECIPE.
image_cached() { stamp_ok "$1" && [ "$(cat "$1/.done")" = "$2" ]; }

# image_begin LAYOUT TAG: a new image in LAYOUT.partial (removed again if the caller fails),
# unpacked for filling; sets P (the partial layout) and R (its rootfs).
image_begin() {
  P="$1.partial"
  rm -rf "$P"
  trap "exit 130" INT; trap "exit 143" TERM
  trap 'rc=$?; [ $rc -eq 0 ] || { rm -rf "$P"; say "image $KIND $VER: failed, nothing kept"; }' EXIT
  umoci init --layout "$P"
  umoci new --image "$P:$2"
  umoci unpack --image "$P:$2" "$P/bundle" >/dev/null
  R="$P/bundle/rootfs"
}

# image_finish LAYOUT TAG RECIPE [umoci config options...]: repacks R, sets PATH (as
# distroless and alpine images do: a pod's `command: [cp]` is looked up in it) and the
# options, moves the layout in place, stamps it and prints "<dir>:<tag>".
image_finish() {
  local l=$1 tag=$2 recipe=$3 by="tests/real/$(basename "$0") $KIND $VER"
  shift 3
  umoci repack --image "$P:$tag" --history.created_by "$by" "$P/bundle" >/dev/null
  umoci config --image "$P:$tag" --os linux --architecture amd64 \
    --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@" \
    --history.created_by "$by: config" >/dev/null
  rm -rf "$P/bundle"
  umoci gc --layout "$P"
  rm -rf "$l"
  mv "$P" "$l"
  echo "$recipe" > "$l/.done"
  trap - EXIT
  say "image $KIND $VER: $(du -sh "$l" | cut -f1) in $l"
  echo "$l:$tag"
}

# static_base ROOTFS: a distroless-like base: root, nobody (65534) and nonroot (65532)
# users, /tmp, CA certificates (Debian's ca-certificates bundle of this machine).
static_base() {
  local r=$1
  mkdir -p "$r/etc/ssl/certs" "$r/tmp"
  chmod 1777 "$r/tmp"
  cp /etc/ssl/certs/ca-certificates.crt "$r/etc/ssl/certs/ca-certificates.crt"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > "$r/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n' > "$r/etc/group"
}

# debian_rootfs NAME PKGS: a Debian bookworm rootfs (mmdebstrap, variant essential) with
# PKGS (comma-separated) from Debian's packages, cached by itself in rootfs/NAME (.done
# holds PKGS).
debian_rootfs() {
  local name=$1 pkgs=$2 rootfs="$EZ_REAL_CACHE/rootfs/$1"
  stamp_ok "$rootfs" && [ "$(cat "$rootfs/.done")" = "$pkgs" ] && return 0
  cached_only_or_die "rootfs $name"
  command -v mmdebstrap >/dev/null || die "$KIND image needs mmdebstrap (apt-get install mmdebstrap)"
  rm -rf "$rootfs" "$rootfs.partial"
  mkdir -p "$(dirname "$rootfs")"
  say "$KIND image: a bookworm rootfs with ${pkgs:-the essential set} (mmdebstrap)"
  timed "${name%-bookworm}-rootfs" mmdebstrap --quiet --variant=essential ${pkgs:+--include=$pkgs} \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/*' \
    bookworm "$rootfs.partial"
  mv "$rootfs.partial" "$rootfs"
  printf '%s' "$pkgs" > "$rootfs/.done"
}

# unpack_rootfs NAME DIR: copies rootfs/NAME into DIR.
unpack_rootfs() { tar -C "$EZ_REAL_CACHE/rootfs/$1" --exclude=./.done -cf - . | tar -C "$2" -xpf -; }
