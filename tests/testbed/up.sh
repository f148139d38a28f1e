#!/bin/bash
# up.sh [--mode systemd|plain] [--no-wait] [--timeout S] HOSTSPEC...
#   Start test hosts, e.g. `up.sh 3`, `up.sh 1-3`, `up.sh --mode plain 5,7,9-12`.
#   Idempotent: a host that already runs is left alone (with a warning when it runs
#   in the other mode; a frozen one is thawed). Then waits, in parallel, until
#   every named host accepts an ssh login with the bed's key (default timeout
#   120 s). Exit status 1 if one did not come up (the end of its console log is
#   printed).
#
#   --mode systemd (default)  systemd-nspawn boots systemd as PID 1 (systemctl works)
#   --mode plain              PID 1 is sshd in a chroot: no service manager, ~3x
#                             faster and lighter (node-init.sh)
#
# Host N: netns tbN, eth0 10.250.0.(10+N)/24 on bridge tbbr0 (10.250.0.1), overlay
# root at /var/lib/testbed/hosts/tbN/root, its own ed25519 host key (listed in
# /var/lib/testbed/ssh/known_hosts), users root, tbuser, tbsudo (see lib.sh,
# build-rootfs.sh). Log in: ssh -F /var/lib/testbed/ssh/config tbN
#
# Machine-wide effects, all undone by `down.sh --all`: bridge tbbr0 + one FORWARD
# DROP rule; fs.inotify.max_user_instances raised (systemd mode); /run/netns.
# Env: TB_ROOT (default /var/lib/testbed), TB_VOLUMES (default /var/lib/containerd),
#      TB_NSPAWN_OPTS (extra systemd-nspawn options).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
MODE=systemd; WAIT=1; TIMEOUT=120; specs=()
while [ $# -gt 0 ]; do
  case $1 in
    --mode) MODE=${2:-}; shift 2 ;;
    --mode=*) MODE=${1#--mode=}; shift ;;
    --no-wait) WAIT=0; shift ;;
    --timeout) TIMEOUT=${2:-}; shift 2 ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) tb_die "unknown option $1" ;;
    *) specs+=("$1"); shift ;;
  esac
done
case $MODE in systemd|plain) ;; *) tb_die "--mode must be systemd or plain, not '$MODE'" ;; esac
[ ${#specs[@]} -gt 0 ] || tb_die "usage: up.sh [--mode systemd|plain] HOSTSPEC (e.g. 3, 1-3, 5,7,9-12)"
tb_parse_hosts "${specs[@]}"
HOSTS=("${TB_HOSTS[@]}")
tb_need_root
tb_check_deps "$MODE"
t0=$(date +%s.%N)

tb_lock
"$TB_DIR/build-rootfs.sh" "$TB_ROOTFS" >/dev/null 2>"$TB_ROOT/build-rootfs.log" ||
  { cat "$TB_ROOT/build-rootfs.log" >&2; exit 1; }
grep WARNING "$TB_ROOT/build-rootfs.log" >&2 || true
tb_bridge_up
tb_keys
if [ "$MODE" = systemd ]; then
  # Each systemd host holds ~5 inotify instances; fs.inotify.max_user_instances
  # (default 128) is per *user*, shared by every root process of the machine. At
  # ~21 hosts systemd died at boot ("Failed to allocate manager object: Too many
  # open files"). Raise it for 60 hosts; down.sh --all restores the old value.
  need=$((TB_MAX * 8 + 256)); cur=$(sysctl -n fs.inotify.max_user_instances)
  if [ "$cur" -lt "$need" ]; then
    [ -f "$TB_ROOT/inotify.orig" ] || echo "$cur" > "$TB_ROOT/inotify.orig"
    sysctl -qw fs.inotify.max_user_instances="$need"
  fi
fi
# /run/netns: `ip netns add` bind-mounts it onto itself; note whether we made it
if [ ! -e "$TB_ROOT/netns.ours" ] && ! mountpoint -q /run/netns 2>/dev/null; then
  echo 1 > "$TB_ROOT/netns.ours"
fi

start_plain() {  # N -- ip netns exec -> unshare (launcher, PID recorded) -> node-init.sh
  local n=$1 h; h=$(tb_hdir "$n")
  setsid "$TB_DIR/in-cgroup.sh" "$n" ip netns exec "tb$n" \
    unshare --cgroup --mount --uts --ipc --pid --fork --kill-child --propagation private \
    env TB_VOLUMES="$TB_VOLUMES" "$TB_DIR/node-init.sh" "tb$n" "$h/root" \
    </dev/null >"$h/console.log" 2>&1 9>&- &
  echo $! > "$h/pid"
}

start_systemd() {  # N -- systemd-nspawn (launcher, PID recorded) boots systemd
  local n=$1 h v binds=(); h=$(tb_hdir "$n")
  for v in $TB_VOLUMES; do binds+=("--bind=$h/vol$v:$v"); done
  # --register=no --keep-unit: no systemd/machined on the machine; nspawn splits the
  #   per-host cgroup it is started in (in-cgroup.sh) into payload/ + supervisor/.
  # -D on the overlay mounted by tb_fs_up, so the harness sees the host's files.
  # --system-call-filter=@keyring: runc makes a session keyring per container.
  # --bind $TB_VOLUMES: from ext4 (no overlayfs upper dir on overlayfs).
  # Not SYSTEMD_NSPAWN_API_VFS_WRITABLE=1: it opens all of /proc/sys, and a host
  #   could change kernel.panic or vm.overcommit_memory of the whole machine;
  #   testbed-rw.service opens only the cgroup mounts and /proc/sys/net.
  SYSTEMD_NSPAWN_LOCK=0 setsid "$TB_DIR/in-cgroup.sh" "$n" systemd-nspawn --quiet \
    --register=no --keep-unit --boot -D "$h/root" -M "tb$n" \
    --network-namespace-path="/run/netns/tb$n" \
    --capability=all --system-call-filter=@keyring \
    --resolv-conf=off --timezone=off --link-journal=no --console=read-only \
    "${binds[@]}" ${TB_NSPAWN_OPTS:-} \
    </dev/null >"$h/console.log" 2>&1 9>&- &
  echo $! > "$h/pid"
}

started=()
for n in "${HOSTS[@]}"; do
  h=$(tb_hdir "$n")
  if tb_running "$n"; then
    have=$(cat "$h/mode" 2>/dev/null || echo "?")
    [ "$have" = "$MODE" ] || tb_log "warning: tb$n already runs in $have mode (asked: $MODE); left as it is"
    # up means "answers ssh": a frozen host would only make us wait for the timeout
    [ ! -f "$h/frozen" ] || { tb_thaw "$n"; tb_log "warning: tb$n was frozen; thawed it"; }
    continue
  fi
  mkdir -p "$h"; rm -f "$h/pid"
  tb_thaw "$n"   # a freezer left FROZEN would freeze the new host at once
  ip -n "tb$n" link show eth0 >/dev/null 2>&1 || { ip netns del "tb$n" 2>/dev/null || true; tb_net_up "$n"; }
  # a host booted again comes back whole: undo `tb cut` / `tb isolate-from-root`
  ip link set "tbv$n" up
  tb_unisolate "$n"
  if mountpoint -q "$h/root"; then
    # booting a stopped host: known_hosts follows the key it boots with (`tb rekey`
    # deliberately leaves known_hosts stale only while the host keeps running)
    tb_known_hosts_set "$n" "$(cut -d' ' -f1,2 "$h/root/etc/ssh/ssh_host_ed25519_key.pub")"
  else
    tb_fs_up "$n"
  fi
  echo "$MODE" > "$h/mode"
  "start_$MODE" "$n"
  started+=("$n")
done
# Keep the lock until every new launcher sits in its host's cgroup: only then does
# tb_running see it, and a concurrent up.sh for the same host must see it (or it
# would start the host a second time).
for n in "${started[@]}"; do
  for _ in $(seq 100); do
    tb_running "$n" && break
    kill -0 "$(cat "$(tb_hdir "$n")/pid")" 2>/dev/null || break   # died: reported below
    sleep 0.05
  done
done
tb_unlock

if [ "$WAIT" = 1 ]; then
  wait_ssh() {  # N -- until root can log in with the bed's key
    local ip t=$SECONDS; ip=$(tb_ip "$1")
    until ssh -F /dev/null -i "$TB_SSH/id_ed25519" -o IdentitiesOnly=yes -o BatchMode=yes \
        -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
        -o ConnectTimeout=2 "root@$ip" true </dev/null 2>/dev/null; do
      [ $((SECONDS - t)) -lt "$TIMEOUT" ] || return 1
      # launcher gone: the host died; stop waiting (checked every 0.2 s, so a
      # recycled PID could at worst make us wait for the timeout)
      kill -0 "$(cat "$(tb_hdir "$1")/pid" 2>/dev/null || echo x)" 2>/dev/null || return 1
      sleep 0.2
    done
  }
  declare -A waiters=(); failed=()
  for n in "${HOSTS[@]}"; do wait_ssh "$n" & waiters[$n]=$!; done
  for n in "${HOSTS[@]}"; do wait "${waiters[$n]}" || failed+=("$n"); done
  if [ ${#failed[@]} -gt 0 ]; then
    for n in "${failed[@]}"; do
      tb_log "tb$n did not accept ssh within ${TIMEOUT}s; end of $(tb_hdir "$n")/console.log:"
      sed 's/\x1b\[[0-9;]*m//g' "$(tb_hdir "$n")/console.log" 2>/dev/null | grep -v '^\[  OK' | tail -8 >&2
    done
    exit 1
  fi
fi
tb_log "up: ${#HOSTS[@]} hosts ready (${#started[@]} started, $MODE) in $(awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $t0}") s"
