#!/usr/bin/env bash
# bench/setup-bench.sh [SIZES]   (default: "1 10 30"; root; uses test-bed hosts
# TB_FIRST..(TB_FIRST+N-1) without those in TB_AVOID, TB_FIRST default 31: run it alone, those hosts overlap the
# integration tests' ranges; TB_KEEP_UP=1 leaves the last size's hosts and bundle up;
# BENCH_SCP=1 adds the OpenSSH scp baseline of earlier sessions)
#
# Per N: `ezctl setup <c> all` (01..03) on N fresh test-bed hosts with a bundle of real Debian
# binaries, with relay (the default), then the idempotent re-run; then the same hosts made
# fresh again and the first run with `--no-relay` (every file from the deploy host over SSH).
# One line per N:
#   N=<n> egress/bundle=<r> relay_first_s=<s> direct_first_s=<s> cpu_s=<s>  (+ details)
#   egress/bundle  bytes the deploy host sent to the bed during the relay run (tx of the bed's
#                  bridge, SSH framing included) / bytes of the bundle's files (bin/, down/)
#   relay_first_s  wall time of the first run with relay; direct_first_s: with --no-relay
#   cpu_s          CPU-seconds (user+sys) of ezctl during the relay run (direct_cpu_s: direct)
# and a model fitted to the sizes run, projecting 100, 300 and 1000 hosts.
# Not a test: figures depend on the machine; record them in docs/en/benchmarks-setup.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
sizes=${1:-"1 10 30"}
[ "$(id -u)" = 0 ] || { echo "setup-bench: needs root (test bed)" >&2; exit 1; }
cd "$root"
cargo build --release -q -p ez-cli -p ez-relay
EZ=$root/target/release/ezctl
TB=$root/tests/testbed
work=$(mktemp -d /var/tmp/ez-setup-bench.XXXXXX)
[ "${TB_KEEP_UP:-0}" = 1 ] || trap 'rm -rf "$work"' EXIT
# `setup all` installs ~/.kube/config and a ~/.bashrc line: into a scratch home.
export EZ_HOME=$work/home; mkdir -p "$EZ_HOME"

# The bundle: real binaries from Debian packages, in kubeasz's layout.
base=$work/base
mkdir -p "$base"/bin/containerd-bin "$base"/bin/cni-bin "$base"/down
cp /usr/bin/etcd /usr/bin/etcdctl "$base"/bin/
cp /usr/bin/containerd /usr/bin/containerd-shim-runc-v2 /usr/bin/ctr /usr/sbin/runc "$base"/bin/containerd-bin/
cp /usr/lib/cni/{bridge,host-local,loopback,portmap} "$base"/bin/cni-bin/
mkdir -p "$base/playbooks/roles"
cp playbooks/01.prepare.yml playbooks/02.etcd.yml playbooks/03.runtime.yml "$base/playbooks/"
cp -r playbooks/roles/{prepare,etcd,containerd} "$base/playbooks/roles/"
export EZ_PLAYBOOKS=$base/playbooks

ms() { date +%s%3N; }
SUMMARY_PY='
import json, sys
wall = int(sys.argv[1]); tx = 0; by = 0; fail = []
for line in sys.stdin:
    if not line.startswith("{"):
        continue
    e = json.loads(line)
    if e.get("event") == "summary":
        hs = e["summary"]["hosts"]
        tx += max((h["transfer_ms"] for h in hs.values()), default=0)
        by += sum(h["transferred"] for h in hs.values())
        fail += [h["failed"] for h in hs.values() if h["failed"]]
if fail:
    print("FAILED:", fail[0], file=sys.stderr); sys.exit(1)
print(wall, tx, by)
'
bundle_bytes=$(du -sb --apparent-size "$base/bin" "$base/down" | awk '{s += $1} END {print s}')
BR=/sys/class/net/tbbr0/statistics/tx_bytes
results=$work/results; : > "$results"
[ "${BENCH_SCP:-0}" != 1 ] ||
  printf '%-4s %9s %9s %9s %9s %9s %10s %10s\n' N first transfer rest scp rerun "ours MB/s" "scp MB/s"
declare -A REST
for n in $sizes; do
  # N test-bed indices from TB_FIRST on, leaving out those in TB_AVOID (hosts another run
  # holds, e.g. TB_AVOID="30 31" during a conformance run).
  idxs=(); i=${TB_FIRST:-31}
  while [ ${#idxs[@]} -lt "$n" ] && [ "$i" -le 60 ]; do
    [[ " ${TB_AVOID:-} " == *" $i "* ]] || idxs+=("$i"); i=$((i + 1))
  done
  [ ${#idxs[@]} = "$n" ] || { echo "setup-bench: not $n free test-bed hosts from ${TB_FIRST:-31}" >&2; exit 1; }
  spec=$(IFS=,; echo "${idxs[*]}")
  fresh() {
    "$TB/down.sh" "$spec" >/dev/null 2>&1 || true
    "$TB/up.sh" --mode systemd "$spec" >/dev/null
  }
  fresh
  ips=(); for i in "${idxs[@]}"; do ips+=("10.250.0.$((10 + i))"); done
  etcd=("${ips[@]:0:$(( n >= 3 ? 3 : 1 ))}")
  c=b$n; cdir=$base/clusters/$c
  rm -rf "$cdir"
  EZ_BASE=$base "$EZ" new "$c" >/dev/null
  { echo "[etcd]"; printf '%s\n' "${etcd[@]}"; echo; echo "[kube_master]"; echo "${ips[0]}"; echo
    echo "[kube_node]"; printf '%s\n' "${ips[@]}"; echo; echo "[harbor]"; echo; echo "[ex_lb]"; echo; echo "[chrony]"; echo
    echo "[all:vars]"
    sed -n '/^\[all:vars\]/,$p' "$cdir/hosts" | tail -n +2 | grep -v '^ansible_ssh_private_key_file\|^base_dir'
    echo "base_dir=\"$base\""
    echo "ansible_ssh_private_key_file=\"/var/lib/testbed/ssh/id_ed25519\""
  } > "$cdir/hosts.new" && mv "$cdir/hosts.new" "$cdir/hosts"
  cp /var/lib/testbed/ssh/known_hosts "$cdir/known_hosts"

  run() { # step [ezctl flags…] -> prints "wall_ms max_transfer_ms bytes cpu_s egress_bytes"
    local step=$1 t0 t1 out tx0 tx1 cpu; shift; t0=$(ms); tx0=$(cat "$BR")
    # The test bed's machine has cgroup v1 and no loadable modules: those two preflight
    # checks are overridden, the rest apply. /usr/bin/time: ezctl's CPU-seconds.
    out=$(EZ_BASE=$base /usr/bin/time -f 'cpu %U %S' -o "$work/time" \
      "$EZ" --yes --json --skip-preflight cgroup-v2,modules,oom-score setup "$c" "$step" "$@") ||
      { echo "setup-bench: ezctl setup $c $step $* failed" >&2; exit 1; }
    t1=$(ms); tx1=$(cat "$BR")
    cpu=$(awk '/^cpu/ {print $2 + $3}' "$work/time")
    echo "$(python3 -c "$SUMMARY_PY" "$((t1 - t0))" <<<"$out") $cpu $((tx1 - tx0))"
  }
  # Certificates first (render makes them), so neither first run pays for the RSA keys.
  EZ_BASE=$base "$EZ" render "$c" --out "$work/render-$n" >/dev/null; rm -rf "$work/render-$n"
  # `all` = 01 prepare, 02 etcd, 03 container-runtime here (EZ_PLAYBOOKS holds just those)
  res=$(run all) || exit 1; read -r first transfer bytes cpu egress <<<"$res"
  rest=$((first - transfer))
  res=$(run all) || exit 1; read -r rerun _ _ _ _ <<<"$res"
  # The same hosts made fresh again, the same bundle, every file from the deploy host.
  rm -rf "$cdir/state"; fresh; cp /var/lib/testbed/ssh/known_hosts "$cdir/known_hosts"
  res=$(run all --no-relay) || exit 1; read -r dfirst _ dbytes dcpu degress <<<"$res"
  echo "$n $egress $first $dfirst $cpu $dcpu $degress $bytes $dbytes $rerun" >> "$results"
  awk -v n="$n" -v e="$egress" -v b="$bundle_bytes" -v f="$first" -v d="$dfirst" -v c="$cpu" \
      -v dc="$dcpu" -v de="$degress" -v r="$rerun" 'BEGIN{
    printf "N=%s egress/bundle=%.2f relay_first_s=%.1f direct_first_s=%.1f cpu_s=%.1f   (direct: egress/bundle=%.2f cpu_s=%.1f; relay rerun_s=%.1f)\n",
      n, e/b, f/1000, d/1000, c, de/b, dc, r/1000 }'

  if [ "${BENCH_SCP:-0}" = 1 ]; then
  # Baseline: OpenSSH scp of the same files, to the same hosts, all at once. The file set is
  # what `ezctl render` says each host gets (binaries, units, configs, certificates) plus the
  # private keys render leaves out, laid out per host; one `scp -r` per host, into /var/tmp
  # (the same overlay filesystem the real destinations are on).
  same=$work/same-$n; rm -rf "$same"
  EZ_BASE=$base "$EZ" render "$c" --out "$same" >/dev/null
  python3 - "$same" <<'PY'
import os, shutil, sys
root, prefix = sys.argv[1], b"# copied from the deploy host: "
for host in os.listdir(root):
    hdir = os.path.join(root, host)
    secrets = os.path.join(hdir, ".secrets")
    if os.path.exists(secrets):
        for line in open(secrets):
            dest, _, rest = line.partition(" <- ")
            t = os.path.join(hdir, dest.strip().lstrip("/"))
            os.makedirs(os.path.dirname(t), exist_ok=True)
            shutil.copyfile(rest.split(" (")[0].strip(), t)
        os.remove(secrets)
    for d, _, files in os.walk(hdir):
        for f in files:
            p = os.path.join(d, f)
            with open(p, "rb") as fh:
                head = fh.read(4096)
            if head.startswith(prefix):
                os.remove(p)
                shutil.copyfile(head[len(prefix):].decode().strip(), p)
PY
  s0=$(ms)
  for ip in "${ips[@]}"; do
    scp -r -q -i /var/lib/testbed/ssh/id_ed25519 -o UserKnownHostsFile=/var/lib/testbed/ssh/known_hosts \
      -o StrictHostKeyChecking=yes "$same/$ip" "root@$ip:/var/tmp/ez-scp-baseline" &
  done
  wait
  scp_ms=$(( $(ms) - s0 ))
  scp_bytes=$(du -sb "$same" | cut -f1)
  rm -rf "$same"
  REST[$n]=$rest
  awk -v n="$n" -v f="$first" -v t="$transfer" -v r="$rest" -v s="$scp_ms" -v rr="$rerun" -v b="$bytes" -v sb="$scp_bytes" 'BEGIN{
    printf "%-4s %8.1fs %8.1fs %8.1fs %8.1fs %8.1fs %10.1f %10.1f\n", n, f/1000, t/1000, r/1000, s/1000, rr/1000,
      (t>0? b/1048576/(t/1000) : 0), (s>0? sb/1048576/(s/1000) : 0) }'
  fi
  awk -v rr="$rerun" -v f="$first" 'BEGIN{ printf "     rerun/first = %.3f (target <= 0.10)\n", rr/f }'
  [ "${TB_KEEP_UP:-0}" = 1 ] || "$TB/down.sh" "$spec" >/dev/null 2>&1 || true
done
[ "${TB_KEEP_UP:-0}" != 1 ] || echo "kept: hosts and $work"
one=${REST[1]:-}
if [ -n "$one" ]; then
  for n in $sizes; do
    [ "$n" = 1 ] && continue
    awk -v n="$n" -v a="${REST[$n]}" -v b="$one" 'BEGIN{ printf "rest(%s)/rest(1) = %.2f (target <= 1.5)\n", n, a/b }'
  done
fi
# The model: least-squares lines over the sizes run (two or more), projected.
#   egress(N) = e0 + e1*N   the bundle's first copies plus, per host, its small files and agent
#   cpu(N)    = c0 + c1*N   ezctl's own work: a fixed part plus per-host SSH work
#   wall(N)   = w0 + w1*N   on this bed every host shares the same 2 cores, so wall grows with
#                           N; with hosts on their own CPUs the relay tree adds one hop per
#                           log_(1+fanout) N (reported as an assumption, not fitted)
python3 - "$results" "$bundle_bytes" <<'PY'
import sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
bundle = float(sys.argv[2])
if len(rows) < 2:
    print("model: needs two sizes or more"); sys.exit(0)
def fit(xs, ys):
    n = len(xs); mx = sum(xs) / n; my = sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs) or 1.0
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    return my - b * mx, b
N = [r[0] for r in rows]
models = {
    "egress/bundle (relay)": fit(N, [r[1] / bundle for r in rows]),
    "egress/bundle (direct)": fit(N, [r[6] / bundle for r in rows]),
    "relay_first_s": fit(N, [r[2] / 1000 for r in rows]),
    "direct_first_s": fit(N, [r[3] / 1000 for r in rows]),
    "cpu_s (relay)": fit(N, [r[4] for r in rows]),
    "cpu_s (direct)": fit(N, [r[5] for r in rows]),
}
for name, (a, b) in models.items():
    proj = "  ".join(f"N={n}: {a + b * n:.1f}" for n in (100, 300, 1000))
    print(f"model {name} = {a:.3f} + {b:.4f}*N   ->  {proj}")
PY
echo "bundle: $bundle_bytes bytes"
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -r)"
