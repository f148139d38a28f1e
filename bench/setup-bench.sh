#!/usr/bin/env bash
# bench/setup-bench.sh [SIZES]   (default: "1 10 30"; root; uses test-bed hosts
# TB_FIRST..(TB_FIRST+N-1), TB_FIRST default 31: run it alone, those hosts overlap the
# integration tests' ranges; TB_KEEP_UP=1 leaves the last size's hosts and bundle up)
#
# `ezctl setup <c> 01..03` on N fresh test-bed hosts with a bundle of real Debian binaries,
# then the idempotent re-run. Prints, per N:
#   first     wall time of the first run of 01+02+03
#   transfer  the longest per-host time spent placing files (hosts transfer in parallel)
#   rest      first - transfer: everything that is not file transfer
#   scp       OpenSSH scp of the same files (what `ezctl render` lists per host, binaries
#             and private keys included) to the same hosts, one `scp -r` per host, all at once
#   rerun     wall time of the re-run on the converged hosts
# and the ratios the issue sets targets for:
#   rest(N)/rest(1) <= 1.5      transfer rate vs scp >= 0.8      rerun/first <= 0.10
# Not a test: figures depend on the machine; record them in docs/en/benchmarks-setup.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
sizes=${1:-"1 10 30"}
[ "$(id -u)" = 0 ] || { echo "setup-bench: needs root (test bed)" >&2; exit 1; }
cd "$root"
cargo build --release -q -p ez-cli
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
printf '%-4s %9s %9s %9s %9s %9s %10s %10s\n' N first transfer rest scp rerun "ours MB/s" "scp MB/s"
declare -A REST
for n in $sizes; do
  first_idx=${TB_FIRST:-31}; last_idx=$((first_idx + n - 1))
  "$TB/down.sh" "$first_idx-$last_idx" >/dev/null 2>&1 || true
  "$TB/up.sh" --mode systemd "$first_idx-$last_idx" >/dev/null
  ips=(); for i in $(seq $first_idx $last_idx); do ips+=("10.250.0.$((10 + i))"); done
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

  run() { # step -> prints "wall_ms max_transfer_ms bytes"
    local t0 t1 out; t0=$(ms)
    # The test bed's machine has cgroup v1 and no loadable modules: those two preflight
    # checks are overridden, the rest apply.
    out=$(EZ_BASE=$base "$EZ" --yes --json --skip-preflight cgroup-v2,modules setup "$c" "$1") ||
      { echo "setup-bench: ezctl setup $c $1 failed" >&2; exit 1; }
    t1=$(ms)
    python3 -c "$SUMMARY_PY" "$((t1 - t0))" <<<"$out"
  }
  # `all` = 01 prepare, 02 etcd, 03 container-runtime here (EZ_PLAYBOOKS holds just those)
  res=$(run all) || exit 1; read -r first transfer bytes <<<"$res"
  rest=$((first - transfer))
  res=$(run all) || exit 1; read -r rerun _ _ <<<"$res"

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
  awk -v rr="$rerun" -v f="$first" 'BEGIN{ printf "     rerun/first = %.3f (target <= 0.10)\n", rr/f }'
  [ "${TB_KEEP_UP:-0}" = 1 ] || "$TB/down.sh" "$first_idx-$last_idx" >/dev/null 2>&1 || true
done
[ "${TB_KEEP_UP:-0}" != 1 ] || echo "kept: hosts and $work"
one=${REST[1]:-}
if [ -n "$one" ]; then
  for n in $sizes; do
    [ "$n" = 1 ] && continue
    awk -v n="$n" -v a="${REST[$n]}" -v b="$one" 'BEGIN{ printf "rest(%s)/rest(1) = %.2f (target <= 1.5)\n", n, a/b }'
  done
fi
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -r)"
