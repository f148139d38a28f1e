#!/usr/bin/env bash
# Fills $EZ_REAL_CACHE/mirror with the built binaries laid out like the upstream download sites
# (the tree `wget -x -i $(ezdown --list-urls)` would make; crates/bundle/src/catalog.rs), each
# with the checksum file in the format its upstream publishes:
#   dl.k8s.io/release/<k8s>/bin/linux/amd64/<bin>          + <bin>.sha256 (bare hash)
#   github.com/etcd-io/etcd/releases/download/<v>/etcd-<v>-linux-amd64.tar.gz + SHA256SUMS
#   github.com/containerd/containerd/releases/download/v<v>/containerd-static-<v>-linux-amd64.tar.gz + .sha256sum
#   github.com/opencontainers/runc/releases/download/<v>/runc.amd64 + runc.sha256sum
#   github.com/containernetworking/plugins/releases/download/<v>/cni-plugins-linux-amd64-<v>.tgz + .sha256
#   github.com/kubernetes-sigs/cri-tools/releases/download/<v>/crictl-<v>-linux-amd64.tar.gz + .sha256 (bare hash)
#   get.helm.sh/helm-<v>-linux-amd64.tar.gz + .sha256sum
# A file is (re)made only when it or its checksum file is missing; the checksum file is
# written last, so an interrupted fill is redone on the next run.
#
# Usage: mirror.sh K8S ETCD CONTAINERD RUNC CNI CRICTL HELM   (versions as the table spells them;
# K8S may list several releases, comma separated: the first is the bundle's, the others are
# there for `ezdown -k`)
. "$(dirname "$0")/lib.sh"
[ $# -eq 7 ] || die "usage: mirror.sh K8S ETCD CONTAINERD RUNC CNI CRICTL HELM"
K8S=$1 ETCD=$2 CD=${3#v} RUNC=$4 CNI=$5 CRICTL=$6 HELM=$7
M="$EZ_REAL_CACHE/mirror"
C="$EZ_REAL_CACHE"
GH=github.com
mkdir -p "$M"

sha() { sha256sum "$1" | cut -d' ' -f1; }
# place SRC DEST: a hard link (same file system) or a copy.
place() { mkdir -p "$(dirname "$2")"; ln -f "$1" "$2" 2>/dev/null || cp -f "$1" "$2"; }
# mktar DEST DIR ENTRIES...: a gzip'ed tar of DIR's ENTRIES, root-owned, sorted, fixed mtime.
mktar() {
  local dest=$1 dir=$2; shift 2
  mkdir -p "$(dirname "$dest")"
  tar -C "$dir" --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -cf - "$@" \
    | gzip -n -6 > "$dest.tmp"
  mv "$dest.tmp" "$dest"
}
need() { [ -f "$1" ] && [ -f "$2" ] && return 1; return 0; }
stage() { local d="$C/mirror-stage/$1"; rm -rf "$d"; mkdir -p "$d"; echo "$d"; }

# Kubernetes: bare binaries, <bin>.sha256 holds the bare hash.
for kv in ${K8S//,/ }; do
  kb="$C/kubernetes/$kv/bin"
  for b in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl; do
    d="$M/dl.k8s.io/release/$kv/bin/linux/amd64/$b"
    [ -x "$kb/$b" ] || die "kubernetes $kv: $kb/$b is not built"
    if need "$d" "$d.sha256" || [ "$(cat "$d.sha256")" != "$(sha "$kb/$b")" ]; then
      place "$kb/$b" "$d"; sha "$d" > "$d.sha256"
    fi
  done
done
K8S=${K8S%%,*}

# etcd: etcd-<v>-linux-amd64/{etcd,etcdctl,etcdutl,README*} in a tar.gz; SHA256SUMS (GNU).
d="$M/$GH/etcd-io/etcd/releases/download/$ETCD"
f="etcd-$ETCD-linux-amd64.tar.gz"
if need "$d/$f" "$d/SHA256SUMS"; then
  s=$(stage etcd); n="etcd-$ETCD-linux-amd64"; mkdir -p "$s/$n"
  cp "$C/etcd/$ETCD/bin/"{etcd,etcdctl,etcdutl} "$s/$n/"
  for t in etcdctl etcdutl; do
    src="$(gomod_dir "go.etcd.io/etcd/$t/v3" "$ETCD")/README.md"
    if [ -f "$src" ]; then cp "$src" "$s/$n/README-$t.md"; fi
  done
  mktar "$d/$f" "$s" "$n"
  echo "$(sha "$d/$f")  $f" > "$d/SHA256SUMS"
fi

# containerd static: bin/{containerd,containerd-shim-runc-v2,ctr}; <file>.sha256sum (GNU).
d="$M/$GH/containerd/containerd/releases/download/v$CD"
f="containerd-static-$CD-linux-amd64.tar.gz"
if need "$d/$f" "$d/$f.sha256sum"; then
  s=$(stage containerd); mkdir -p "$s/bin"
  cp "$C/containerd/$CD/bin/"{containerd,containerd-shim-runc-v2,ctr} "$s/bin/"
  mktar "$d/$f" "$s" bin
  echo "$(sha "$d/$f")  $f" > "$d/$f.sha256sum"
fi

# runc: runc.amd64; runc.sha256sum lists the release's files (GNU).
d="$M/$GH/opencontainers/runc/releases/download/$RUNC"
if need "$d/runc.amd64" "$d/runc.sha256sum"; then
  place "$C/runc/$RUNC/bin/runc" "$d/runc.amd64"
  echo "$(sha "$d/runc.amd64")  runc.amd64" > "$d/runc.sha256sum"
fi

# CNI plugins: flat ./<plugin> plus LICENSE and README.md; <file>.sha256 (GNU).
d="$M/$GH/containernetworking/plugins/releases/download/$CNI"
f="cni-plugins-linux-amd64-$CNI.tgz"
if need "$d/$f" "$d/$f.sha256"; then
  s=$(stage cni)
  cp "$C/cni-plugins/$CNI/bin/"* "$s/"
  src=$(gomod_dir github.com/containernetworking/plugins "$CNI")
  cp "$src/LICENSE" "$src/README.md" "$s/"
  mktar "$d/$f" "$s" $(cd "$s" && ls | sed 's|^|./|')
  echo "$(sha "$d/$f")  $f" > "$d/$f.sha256"
fi

# crictl: crictl at the top of the tar.gz; <file>.sha256 holds the bare hash.
d="$M/$GH/kubernetes-sigs/cri-tools/releases/download/$CRICTL"
f="crictl-$CRICTL-linux-amd64.tar.gz"
if need "$d/$f" "$d/$f.sha256"; then
  s=$(stage crictl); cp "$C/crictl/$CRICTL/bin/crictl" "$s/"
  mktar "$d/$f" "$s" crictl
  sha "$d/$f" > "$d/$f.sha256"
fi

# helm: linux-amd64/{helm,LICENSE,README.md}; <file>.sha256sum (GNU).
d="$M/get.helm.sh"
f="helm-$HELM-linux-amd64.tar.gz"
if need "$d/$f" "$d/$f.sha256sum"; then
  s=$(stage helm); mkdir -p "$s/linux-amd64"
  cp "$C/helm/$HELM/bin/helm" "$s/linux-amd64/"
  src=$(gomod_dir helm.sh/helm/v4 "$HELM")
  cp "$src/LICENSE" "$s/linux-amd64/"
  if [ -f "$src/README.md" ]; then cp "$src/README.md" "$s/linux-amd64/"; fi
  mktar "$d/$f" "$s" linux-amd64
  echo "$(sha "$d/$f")  $f" > "$d/$f.sha256sum"
fi
rm -rf "$C/mirror-stage"

# checksums.sha256: ezdown's checksum-table format (`<sha256>  <URL without scheme>`) for every
# file of the mirror, read from the checksum files written above. The repository's table pins
# upstream's published hashes for some of these URLs (kubelet, kubectl, the CNI tarball): a
# build made here differs from upstream's bytes, so `ezdown --checksums` this file (it wins
# over the repository's table) to accept this mirror's builds.
CT="$C/checksums.sha256"
{
  echo "# tests/real: sha256 of the files built here and served by the loopback file mirror"
  cd "$M"
  find . -type f \( -name '*.sha256' -o -name '*.sha256sum' -o -name SHA256SUMS \) | sort | while read -r cf; do
    dir=$(dirname "${cf#./}")
    while read -r h n; do
      [ -n "$h" ] || continue
      if [ -z "${n:-}" ]; then n=$(basename "$cf"); n=${n%.sha256sum}; n=${n%.sha256}; fi
      echo "$h  $dir/${n#\*}"
    done < "$cf"
  done
} > "$CT.tmp"
mv "$CT.tmp" "$CT"
say "file mirror tree: $(find "$M" -type f | wc -l) files, $(du -sh "$M" | cut -f1) in $M"
