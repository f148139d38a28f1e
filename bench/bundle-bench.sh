#!/usr/bin/env bash
# bench/bundle-bench.sh — ezdown's transfer and verification speed against baselines, on this
# machine, over loopback only (127.0.0.1). Prints the ratios; asserts nothing.
#   fetch:  time(parallel curl of the same files) / time(ezdown -D code path)   target >= 0.8
#   verify: time(ezdown --verify) / time(sha256sum over the bundle)            target <= 1.2
#   rerun:  time(ezdown -D on a complete bundle) / time(sha256sum)              (0 bytes fetched)
#   link:   the fetch again from a server throttled to LINK_MBPS MB/s per connection (default 25),
#           i.e. a link slower than the CPU: curl / ezdown
# Needs: python3 (static file server), curl, sha256sum, and the real binaries the tests use
# (etcd-server etcd-client containerd runc containernetworking-plugins busybox-static).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
JOBS=${JOBS:-4}
ROUNDS=${ROUNDS:-3}
cd "$root"
cargo build --release -q -p ez-bundle --example bundle_bench
B=${CARGO_TARGET_DIR:-$root/target}/release/examples/bundle_bench
work=$(mktemp -d /tmp/bundle-bench.XXXXXX)
server_pid=
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

"$B" tree "$work/mirror"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
(cd "$work/mirror" && exec python3 -m http.server --bind 127.0.0.1 "$port" >/dev/null 2>&1) &
server_pid=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/urls.txt" >/dev/null && break; sleep 0.1; done
mirror="http://127.0.0.1:$port"
total=$(du -sb "$work/mirror" | cut -f1)
echo "mirror: $(wc -l < "$work/mirror/urls.txt") files, $total bytes, jobs=$JOBS, best of $ROUNDS"

now() { date +%s.%N; }
best() { sort -g | head -1; }

# best-of-ROUNDS seconds of parallel curl of every file from server $1
curl_best() {
  for _ in $(seq "$ROUNDS"); do
    rm -rf "$work/curl"; mkdir -p "$work/curl"
    t0=$(now)
    sed "s|^|$1/|" "$work/mirror/urls.txt" | (cd "$work/curl" && xargs -P "$JOBS" -n 1 curl -sf -x '' -O)
    echo "$(now) - $t0" | bc
  done | best
}
# best-of-ROUNDS seconds of the ezdown fetch from server $1 into a fresh $work/$2
ez_best() {
  for _ in $(seq "$ROUNDS"); do
    rm -rf "${work:?}/$2"
    "$B" fetch "$work/$2" "$1" "$JOBS" | cut -d' ' -f1
  done | best
}

curl_t=$(curl_best "$mirror")

# The same work done with shell tools: curl, then sha256sum of every file, then tar -xzf of
# every archive (what ezdown does besides the transfer), for context.
shell_t=$(for _ in $(seq "$ROUNDS"); do
  rm -rf "$work/curl"; mkdir -p "$work/curl/x"
  t0=$(now)
  sed "s|^|$mirror/|" "$work/mirror/urls.txt" | (cd "$work/curl" && xargs -P "$JOBS" -n 1 curl -sf -x '' -O)
  (cd "$work/curl" && find . -maxdepth 1 -type f -print0 | xargs -0 -P "$JOBS" -n 4 sha256sum >/dev/null \
    && for a in *.tar.gz *.tgz; do tar -xzf "$a" -C x; done)
  echo "$(now) - $t0" | bc
done | best)

ez_t=$(ez_best "$mirror" base)

sha_t=$(for _ in $(seq "$ROUNDS"); do
  t0=$(now)
  (cd "$work/base" && find bin down -type f -print0 | xargs -0 sha256sum >/dev/null)
  echo "$(now) - $t0" | bc
done | best)

ver_t=$(for _ in $(seq "$ROUNDS"); do "$B" verify "$work/base" "$(nproc)" | cut -d' ' -f1; done | best)
rerun=$(for _ in $(seq "$ROUNDS"); do "$B" fetch "$work/base" "$mirror" "$JOBS"; done | sort -g | head -1)
rerun_t=${rerun% *}; rerun_bytes=${rerun#* }

# The same fetch over a link slower than this machine's CPU (any real mirror): the same files
# served at LINK_MBPS MB/s per connection (a throttled loopback server), curl against ezdown.
LINK_MBPS=${LINK_MBPS:-25}
lport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
(cd "$work/mirror" && RATE=$LINK_MBPS PORT=$lport exec python3 -c '
import http.server, os, time
rate = float(os.environ["RATE"]) * 1e6
class H(http.server.SimpleHTTPRequestHandler):
    def copyfile(self, src, dst):
        t0, sent = time.monotonic(), 0
        while True:
            b = src.read(64 * 1024)
            if not b:
                return
            dst.write(b)
            sent += len(b)
            ahead = sent / rate - (time.monotonic() - t0)
            if ahead > 0:
                time.sleep(ahead)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
' >/dev/null 2>&1) &
link_pid=$!
trap 'kill "$link_pid" 2>/dev/null; cleanup' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$lport/urls.txt" >/dev/null && break; sleep 0.1; done
link="http://127.0.0.1:$lport"
lcurl_t=$(curl_best "$link")
lez_t=$(ez_best "$link" base2)

printf 'fetch : curl -P%s %.3fs  ezdown %.3fs  ratio(curl/ezdown) = %.2f  (target >= 0.8)\n' "$JOBS" "$curl_t" "$ez_t" "$(echo "$curl_t / $ez_t" | bc -l)"
printf 'fetch : curl+sha256sum+tar -xzf (same work) %.3fs  ratio(that/ezdown) = %.2f\n' "$shell_t" "$(echo "$shell_t / $ez_t" | bc -l)"
printf 'verify: sha256sum %.3fs  ezdown --verify %.3fs  ratio(ezdown/sha256sum) = %.2f  (target <= 1.2)\n' "$sha_t" "$ver_t" "$(echo "$ver_t / $sha_t" | bc -l)"
printf 'rerun : ezdown -D on a complete bundle %.3fs, %s bytes fetched, ratio(rerun/sha256sum) = %.2f\n' "$rerun_t" "$rerun_bytes" "$(echo "$rerun_t / $sha_t" | bc -l)"
printf 'link  : %s MB/s per connection: curl -P%s %.3fs  ezdown %.3fs  ratio(curl/ezdown) = %.2f\n' "$LINK_MBPS" "$JOBS" "$lcurl_t" "$lez_t" "$(echo "$lcurl_t / $lez_t" | bc -l)"
