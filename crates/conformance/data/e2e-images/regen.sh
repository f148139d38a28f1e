#!/usr/bin/env bash
# Rewrites manifest.tsv from the commits named in manifest-sources.tsv.
# Usage: regen.sh GITDIRS   (GITDIRS/<owner>+<name>/repo: a git directory of each repository)
# Reads only vendor/modules.txt, vendor/k8s.io/kubernetes/test/utils/image and
# vendor/k8s.io/kubernetes/test/e2e/testing-manifests of each commit; builds and runs nothing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
gitdirs=${1:?usage: regen.sh GITDIRS}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
out="$work/manifest.tsv"
sed -n '1,/^v/p' "$here/manifest.tsv" | grep '^#' >"$out"
grep -v '^#' "$here/manifest-sources.tsv" | while IFS=$'\t' read -r tag repo commit _; do
  git_dir="$gitdirs/${repo/\//+}/repo"
  dir="$work/$tag"
  mkdir -p "$dir"
  git -C "$git_dir" archive "$commit" vendor/modules.txt \
    vendor/k8s.io/kubernetes/test/utils/image \
    vendor/k8s.io/kubernetes/test/e2e/testing-manifests | tar -x -C "$dir"
  vendored=$(grep -m1 '^# k8s.io/kubernetes ' "$dir/vendor/modules.txt")
  if [ "$vendored" != "# k8s.io/kubernetes $tag" ]; then
    echo "$repo@$commit vendors '$vendored', not $tag" >&2
    exit 1
  fi
  python3 "$here/gen_manifest.py" "$dir/vendor/k8s.io/kubernetes" "$tag" >>"$out"
done
cp "$out" "$here/manifest.tsv"
