#!/usr/bin/env bash
# Builds busybox as upstream ships it into $EZ_REAL_CACHE/busybox-src/<debian version>/bin,
# from Debian's source package (fetched by apt through a private deb-src list, never
# touching the machine's apt configuration), with Debian's static configuration and every
# Debian patch but the two that change ash's environment handling:
#
#   revert-9c143ce52da11ec3d21a3491c3749841d3dc10f0.patch  reverts upstream's commit that
#     passes variables whose names are no shell identifiers (`data-1`) on to children;
#   temp-deb-installer-hack.patch  builds on that revert (for debian-installer).
#
# Upstream's busybox (the real e2e-test-images/busybox) keeps such names; the [Conformance]
# ConfigMap/Secret "consumable via the environment" specs read them through `sh -c env`, and
# fail with Debian's busybox-static. Prints the binary's path. Needs build-essential, libc.a.
#
#   build-busybox.sh            (the version of the machine's Debian release)
. "$(dirname "$0")/lib.sh"
DROP="revert-9c143ce52da11ec3d21a3491c3749841d3dc10f0.patch temp-deb-installer-hack.patch"
RECIPE="recipe: Debian source, static config, without: $DROP"
SUITE=$(. /etc/os-release && echo "${VERSION_CODENAME:?}")

WORK=$(mktemp -d /tmp/ez-busybox.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
# A private apt state, kept in the cache: the source index of the release's main archive only.
STATE="$EZ_REAL_CACHE/busybox-src/apt"
mkdir -p "$STATE/lists/partial"
echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $SUITE main" > "$STATE/sources.list"
APT=(-o Dir::Etc::SourceList="$STATE/sources.list" -o Dir::Etc::SourceParts=/dev/null
  -o Dir::State::Lists="$STATE/lists" -o APT::Sandbox::User=root)

# The version first (cheap): a cached build of it ends here.
DEBVER=$(apt-cache "${APT[@]}" showsrc busybox 2>/dev/null | sed -n 's/^Version: //p' | sort -V | tail -1 || true)
if [ -z "$DEBVER" ]; then
  apt-get "${APT[@]}" update -qq >/dev/null 2>&1 || die "busybox: apt-get update of deb-src $SUITE failed"
  DEBVER=$(apt-cache "${APT[@]}" showsrc busybox 2>/dev/null | sed -n 's/^Version: //p' | sort -V | tail -1 || true)
fi
[ -n "$DEBVER" ] || die "busybox: no source package in Debian $SUITE"
OUT="$EZ_REAL_CACHE/busybox-src/${DEBVER#*:}"
if stamp_ok "$OUT" && grep -qxF "$RECIPE" "$OUT/.done"; then
  say "busybox $DEBVER cached in $OUT"; echo "$OUT/bin/busybox"; exit 0
fi
cached_only_or_die "busybox $DEBVER (Debian source)"

(cd "$WORK" && apt-get "${APT[@]}" source --download-only -qq "busybox=$DEBVER" >/dev/null 2>&1) \
  || die "busybox: apt-get source busybox=$DEBVER failed"
S="$WORK/src"; mkdir -p "$S"
tar -xf "$WORK"/busybox_*.orig.tar.* -C "$S" --strip-components=1
tar -xf "$WORK"/busybox_*.debian.tar.* -C "$S"
applied=0
while read -r p; do
  case " $DROP " in *" $p "*) say "busybox: leaving out $p"; continue ;; esac
  patch -p1 -s -d "$S" < "$S/debian/patches/$p" || die "busybox: $p does not apply"
  applied=$((applied + 1))
done < <(grep -vE '^\s*(#|$)' "$S/debian/patches/series")
cp "$S/debian/config/pkg/static" "$S/.config"
grep -qx 'CONFIG_STATIC=y' "$S/.config" || die "busybox: Debian's static config is not static"
rm -rf "$OUT.partial"; mkdir -p "$OUT.partial/bin"
(cd "$S" && { yes '' 2>/dev/null | make oldconfig >/dev/null 2>&1 || [ "${PIPESTATUS[1]}" = 0 ]; } && make -j"$(nproc)" busybox >"$OUT.partial/build.log" 2>&1) \
  || { tail -20 "$OUT.partial/build.log" >&2; die "busybox: make failed"; }
install -m 0755 "$S/busybox" "$OUT.partial/bin/busybox"

# The point of the build: names that are no shell identifiers reach the command.
got=$(env 'data-1=x' "$OUT.partial/bin/busybox" sh -c env | grep -c '^data-1=x$' || true)
[ "$got" = 1 ] || die "busybox: ash still drops variables named like data-1"
printf '%s\nDebian %s, %s patches applied\n' "$RECIPE" "$DEBVER" "$applied" > "$OUT.partial/.done"
rm -rf "$OUT"; mv "$OUT.partial" "$OUT"
say "busybox $DEBVER built in $OUT (upstream's ash environment handling)"
echo "$OUT/bin/busybox"
