# shellcheck shell=bash disable=SC2034  # (sourced: variables are used by the scripts)
# lib.sh -- settings and helpers shared by the test bed scripts (source it).
#
# Layout under $TB_ROOT (default /var/lib/testbed):
#   rootfs/              shared read-only lower layer of every host (build-rootfs.sh)
#   hosts/tbN/upper      host N's overlay upper dir (all it writes; kept by --keep-data)
#   hosts/tbN/work       overlay work dir
#   hosts/tbN/root       merged root, mounted in the machine's mount namespace, so a
#                        harness can read/write host files directly
#   hosts/tbN/vol/...    per-host dirs on the real filesystem, bind-mounted into the
#                        host at $TB_VOLUMES (default /var/lib/containerd: overlayfs
#                        cannot use an upper dir that is itself on overlayfs)
#   hosts/tbN/pid        PID of the host's launcher (systemd-nspawn or unshare)
#   hosts/tbN/mode       systemd | plain
#   hosts/tbN/cgroups    the host's own cgroup dirs, one per hierarchy
#   ssh/                 client keys, known_hosts, ssh_config (see tb_keys)
#   .lock                flock: every script that changes state holds it
#   inotify.orig         fs.inotify.max_user_instances before up.sh raised it
#
# Network: bridge $TB_BR (10.250.0.1/24) in the root netns; host N is netns tbN with
# eth0 = 10.250.0.(10+N)/24, whose root-side veth is tbvN. No route leaves the
# machine: inside a host the default route is a blackhole; in the root netns
# ip_forward is left as it is and FORWARD drops anything from the bridge that would
# leave it.

TB_ROOT=${TB_ROOT:-/var/lib/testbed}
TB_ROOTFS=${TB_ROOTFS:-$TB_ROOT/rootfs}
TB_BR=tbbr0
TB_NET=10.250.0
TB_BR_IP=$TB_NET.1
TB_SSH=$TB_ROOT/ssh
TB_MAX=60
TB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TB_VOLUMES=${TB_VOLUMES-/var/lib/containerd}
TB_SERVICE_CIDR=${TB_SERVICE_CIDR:-10.68.0.0/16}

tb_ip()   { echo "$TB_NET.$((10 + $1))"; }
tb_hdir() { echo "$TB_ROOT/hosts/tb$1"; }
tb_mac()  { printf '02:54:42:00:%02x:%02x\n' "$1" "$2"; }  # locally administered
tb_log()  { echo "[$(date +%T.%3N)] $*" >&2; }
tb_die()  { echo "$(basename "$0"): $*" >&2; exit 1; }

# tb_lock -- take the bed's lock on fd 9 for the rest of the script (blocking).
# Children that outlive the script must be started with 9>&- so they don't keep it.
# A script run by one that holds the lock (build-rootfs.sh from up.sh) sees
# TB_LOCK_HELD=1 and must not lock again (a second open of .lock would deadlock).
tb_lock() {
  [ "${TB_LOCK_HELD:-0}" = 1 ] && return 0
  mkdir -p "$TB_ROOT"
  exec 9>>"$TB_ROOT/.lock"
  flock 9
  export TB_LOCK_HELD=1
}
tb_unlock() { flock -u 9; exec 9>&-; unset TB_LOCK_HELD; }

# tb_parse_hosts SPEC... -- "3", "1-3", "5,7,9-12" -> TB_HOSTS=(sorted unique indices)
# Exits the script on a bad spec (run it in the main shell, not in $(...)).
tb_parse_hosts() {
  local spec part a b i seen=()
  TB_HOSTS=()
  for spec in "$@"; do
    for part in ${spec//,/ }; do
      if [[ $part =~ ^([0-9]+)-([0-9]+)$ ]]; then a=$((10#${BASH_REMATCH[1]})); b=$((10#${BASH_REMATCH[2]}))
      elif [[ $part =~ ^[0-9]+$ ]]; then a=$((10#$part)); b=$a
      else tb_die "bad host spec '$part' (want N, A-B, or a comma list)"; fi
      [ "$a" -ge 1 ] && [ "$b" -le "$TB_MAX" ] && [ "$a" -le "$b" ] ||
        tb_die "host spec '$part' is outside 1-$TB_MAX"
      for ((i = a; i <= b; i++)); do seen[i]=1; done
    done
  done
  TB_HOSTS=("${!seen[@]}")   # indexed-array keys come out in ascending order
}

tb_need_root() { [ "$(id -u)" = 0 ] || tb_die "must run as root"; }

tb_check_deps() {  # MODE
  local c miss=()
  for c in ip iptables unshare nsenter flock mount ssh ssh-keygen; do
    command -v "$c" >/dev/null || miss+=("$c")
  done
  [ "$1" = systemd ] && { command -v systemd-nspawn >/dev/null || miss+=(systemd-nspawn); }
  [ ${#miss[@]} = 0 ] || tb_die "missing: ${miss[*]} (run tests/testbed/setup.sh --packages-only)"
}

# --- running hosts -------------------------------------------------------------
# tb_launcher N -- PID of host N's launcher if it runs, else nothing (status 1). The
# recorded PID only counts if that process still sits in the host's own cgroup, so a
# recycled PID is never mistaken for (or killed as) a host.
tb_launcher() {
  local h pid; h=$(tb_hdir "$1")
  [ -f "$h/pid" ] || return 1
  pid=$(cat "$h/pid")
  [ -n "$pid" ] && grep -q "/testbed/tb$1\$" "/proc/$pid/cgroup" 2>/dev/null || return 1
  echo "$pid"
}
# tb_init N -- PID (in the root pid ns) of host N's PID 1: the launcher's child
tb_init() {
  local l; l=$(tb_launcher "$1") || return 1
  awk '{print $1}' "/proc/$l/task/$l/children" 2>/dev/null | grep . || return 1
}
tb_running() { tb_launcher "$1" >/dev/null; }
tb_hosts_present() {  # indices of hosts with a state dir, running or not
  local h
  for h in "$TB_ROOT"/hosts/tb*; do [ -d "$h" ] && echo "${h##*/tb}"; done | sort -n
}

# --- shared pieces ---------------------------------------------------------------
tb_bridge_up() {
  if ! ip link show "$TB_BR" >/dev/null 2>&1; then
    # a fixed MAC: a bridge otherwise takes the lowest MAC of its ports, which
    # changes as hosts come and go and leaves stale ARP entries in the hosts
    ip link add "$TB_BR" address "$(tb_mac 0 1)" type bridge
    ip addr add "$TB_BR_IP/24" dev "$TB_BR"
    ip link set "$TB_BR" up
  fi
  # Never route from the test hosts off the bridge, even if something turns on
  # ip_forward in the root netns. Bridged host<->host frames (-o $TB_BR) pass.
  iptables -C FORWARD -i "$TB_BR" ! -o "$TB_BR" -j DROP 2>/dev/null ||
    iptables -I FORWARD -i "$TB_BR" ! -o "$TB_BR" -j DROP
}

# tb_keys -- client keys (made once, kept by down.sh), all authorized on every host
# for root, tbuser and tbsudo:
#   id_ed25519             ed25519, no passphrase (the default key)
#   id_rsa, id_ecdsa       RSA-3072 and ECDSA P-256, no passphrase
#   id_ed25519_passphrase  ed25519 with passphrase "tbphrase"
# plus ssh/config for humans: `ssh -F /var/lib/testbed/ssh/config tb3`.
TB_KEYS="id_ed25519 id_rsa id_ecdsa id_ed25519_passphrase"
tb_keys() {
  mkdir -p "$TB_SSH"; chmod 700 "$TB_SSH"
  [ -f "$TB_SSH/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C testbed -f "$TB_SSH/id_ed25519"
  [ -f "$TB_SSH/id_rsa" ] || ssh-keygen -q -t rsa -b 3072 -N '' -C testbed-rsa -f "$TB_SSH/id_rsa"
  [ -f "$TB_SSH/id_ecdsa" ] || ssh-keygen -q -t ecdsa -b 256 -N '' -C testbed-ecdsa -f "$TB_SSH/id_ecdsa"
  [ -f "$TB_SSH/id_ed25519_passphrase" ] ||
    ssh-keygen -q -t ed25519 -N tbphrase -C testbed-passphrase -f "$TB_SSH/id_ed25519_passphrase"
  local k; for k in $TB_KEYS; do cat "$TB_SSH/$k.pub"; done > "$TB_SSH/authorized_keys.new"
  mv -f "$TB_SSH/authorized_keys.new" "$TB_SSH/authorized_keys"
  touch "$TB_SSH/known_hosts"
  cat > "$TB_SSH/config.new" <<CONF
Host tb* $TB_NET.*
  User root
  IdentityFile $TB_SSH/id_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile $TB_SSH/known_hosts
  StrictHostKeyChecking yes
  BatchMode yes
  LogLevel ERROR
  ConnectTimeout 5
CONF
  for n in $(seq 1 $TB_MAX); do echo "Host tb$n"; echo "  HostName $(tb_ip "$n")"; done >> "$TB_SSH/config.new"
  mv -f "$TB_SSH/config.new" "$TB_SSH/config"
}

# tb_known_hosts_set N KEYLINE -- replace host N's line ("tbN,IP type key"); atomic
# (rename), so a reader sees either the old or the new file.
tb_known_hosts_set() {
  local f=$TB_SSH/known_hosts
  { grep -v "^tb$1," "$f" 2>/dev/null || true; [ -z "${2:-}" ] || echo "tb$1,$(tb_ip "$1") $2"; } > "$f.new"
  mv -f "$f.new" "$f"
}

# --- per host: network, filesystem ------------------------------------------------
tb_net_up() {  # N
  local n=$1
  ip netns add "tb$n"
  # Fixed MACs per index: a host that is downed and brought up again keeps its
  # MAC, so ARP caches (the machine's, other hosts') stay right. With random MACs
  # the machine kept sending to the old MAC for ~15-40 s.
  ip link add "tbv$n" address "$(tb_mac 1 "$n")" type veth peer name eth0 address "$(tb_mac 0 "$((n + 10))")" netns "tb$n"
  ip link set "tbv$n" master "$TB_BR" up
  ip -n "tb$n" link set lo up
  ip -n "tb$n" addr add "$(tb_ip "$n")/24" dev eth0
  ip -n "tb$n" link set eth0 up
  # Nothing but 10.250.0.0/24 is reachable: the default route is a blackhole (this
  # kernel has no dummy links). Tools that take the node IP from the default route
  # (kubelet, kubeadm) must be told it: --node-ip / --apiserver-advertise-address.
  ip -n "tb$n" route add blackhole default
  # The Kubernetes Service range (kubeasz's default SERVICE_CIDR) is on-link: a host-network
  # process (flanneld, kube-proxy's own clients) connecting to a ClusterIP needs a route
  # before kube-proxy's DNAT applies; through the blackhole connect() fails with EINVAL.
  # A packet that escaped DNAT would only ARP on the bridge, where nothing answers.
  ip -n "tb$n" route add "$TB_SERVICE_CIDR" dev eth0
}

tb_fs_up() {  # N -- mount host N's overlay and personalise it
  local n=$1 h r u uid gid home v
  h=$(tb_hdir "$n"); r=$h/root
  mkdir -p "$h/upper" "$h/work" "$r"
  mount -t overlay "overlay-tb$n" -o "lowerdir=$TB_ROOTFS,upperdir=$h/upper,workdir=$h/work" "$r"
  echo "tb$n" > "$r/etc/hostname"
  { echo "127.0.0.1 localhost"; echo "::1 localhost ip6-localhost ip6-loopback"
    for ((i = 1; i <= TB_MAX; i++)); do echo "$(tb_ip $i) tb$i"; done; } > "$r/etc/hosts"
  install -d -m 700 "$r/root/.ssh"
  install -m 600 "$TB_SSH/authorized_keys" "$r/root/.ssh/authorized_keys"
  for u in tbuser tbsudo; do
    uid=$(awk -F: -v u=$u '$1 == u {print $3}' "$r/etc/passwd")
    gid=$(awk -F: -v u=$u '$1 == u {print $4}' "$r/etc/passwd")
    home=$(awk -F: -v u=$u '$1 == u {print $6}' "$r/etc/passwd")
    [ -n "$uid" ] || tb_die "user $u missing from the rootfs (rebuild it: build-rootfs.sh)"
    install -d -m 700 -o "$uid" -g "$gid" "$r$home/.ssh"
    install -m 600 -o "$uid" -g "$gid" "$TB_SSH/authorized_keys" "$r$home/.ssh/authorized_keys"
  done
  [ -s "$r/etc/ssh/ssh_host_ed25519_key" ] ||
    ssh-keygen -q -t ed25519 -N '' -C "tb$n" -f "$r/etc/ssh/ssh_host_ed25519_key"
  tb_known_hosts_set "$n" "$(cut -d' ' -f1,2 "$r/etc/ssh/ssh_host_ed25519_key.pub")"
  for v in $TB_VOLUMES; do mkdir -p "$h/vol$v" "$r$v"; done
}

# --- cgroups ---------------------------------------------------------------------
# Every host gets its own cgroup in every hierarchy, below the caller's cgroup
# (e.g. memory:/process_api/<id>/testbed/tbN), recorded in hosts/tbN/cgroups.
# Why: systemd-nspawn --keep-unit splits its *current* cgroup into payload/ and
# supervisor/; started from "/" all hosts would share /payload and their systemds
# would trample each other. It also gives per-host memory numbers, a private tree
# for runc inside, and the freezer used by `tb freeze`.
tb_cgroup_enter() {  # N -- move the calling process into host N's cgroups
  local n=$1 h line hier path mnt dir self f
  h=$(tb_hdir "$n"); : > "$h/cgroups.new"
  self=$(cat /proc/self/cgroup)   # read once: it changes as we move
  while IFS= read -r line; do
    hier=${line#*:}; hier=${hier%%:*}; path=${line#*:*:}
    case $hier in
      "") if [ -f /sys/fs/cgroup/cgroup.controllers ]; then mnt=/sys/fs/cgroup
          else mnt=/sys/fs/cgroup/unified; fi ;;
      name=systemd) mnt=/sys/fs/cgroup/systemd ;;
      name=*) continue ;;
      *) mnt=/sys/fs/cgroup/${hier%%,*} ;;
    esac
    [ -d "$mnt" ] || continue
    path=${path%/}; path=${path%%/testbed/*}   # never nest inside another host
    dir="$mnt$path/testbed/tb$n"
    if [ ! -d "$dir" ]; then
      mkdir -p "$dir"
      if [ -f "$mnt$path/cpuset.cpus" ]; then   # v1 cpuset children start empty
        for f in cpuset.cpus cpuset.mems; do
          cat "$mnt$path/$f" > "$mnt$path/testbed/$f"; cat "$mnt$path/$f" > "$dir/$f"
        done
      fi
    fi
    echo $$ > "$dir/cgroup.procs"
    echo "$dir" >> "$h/cgroups.new"
  done <<< "$self"
  mv -f "$h/cgroups.new" "$h/cgroups"
}

tb_cgroup_remove() {  # N -- rmdir host N's cgroups (its processes must be gone)
  local h d; h=$(tb_hdir "$1")
  [ -f "$h/cgroups" ] || return 0
  while read -r d; do
    [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
    rmdir "$(dirname "$d")" 2>/dev/null   # .../testbed once it is empty
  done < "$h/cgroups"
  rm -f "$h/cgroups"
  return 0
}

# tb_cgroup_procs N -- every PID in host N's cgroups (all hierarchies, deduplicated)
tb_cgroup_procs() {
  local h d; h=$(tb_hdir "$1")
  [ -f "$h/cgroups" ] || return 0
  while read -r d; do [ -d "$d" ] && find "$d" -name cgroup.procs -exec cat {} +; done < "$h/cgroups" | sort -n -u
}
tb_freezer_dir() {  # N -- v1 freezer dir of host N, if there is one
  local h; h=$(tb_hdir "$1")
  grep -m1 '/freezer/' "$h/cgroups" 2>/dev/null
}
tb_v2_dir() {  # N -- v2 dir of host N (pure v2: /sys/fs/cgroup/..., hybrid: unified/...)
  local h d; h=$(tb_hdir "$1")
  while read -r d; do [ -f "$d/cgroup.freeze" ] && { echo "$d"; return 0; }; done < "$h/cgroups"
  return 1
}

# --- per host: freeze / thaw / kill -----------------------------------------------
# tb_freeze N -- stop every process of host N (and its launcher) from running: the
# cgroup v1 freezer of its cgroup, else cgroup v2 cgroup.freeze, else SIGSTOP of each
# process in its cgroups. The method used is recorded in hosts/tbN/frozen.
# TB_FREEZE_METHOD=v1|v2|sigstop forces one (default auto: the first that works).
tb_freeze() {
  local n=$1 h d i; h=$(tb_hdir "$n")
  [ -f "$h/frozen" ] && return 0
  local want=${TB_FREEZE_METHOD:-auto}   # auto | v1 | v2 | sigstop (for testing)
  if [[ $want =~ ^(auto|v1)$ ]] && d=$(tb_freezer_dir "$n") && [ -f "$d/freezer.state" ]; then
    echo FROZEN > "$d/freezer.state"
    for i in $(seq 100); do [ "$(cat "$d/freezer.state")" = FROZEN ] && break; sleep 0.05; done
    [ "$(cat "$d/freezer.state")" = FROZEN ] || { echo THAWED > "$d/freezer.state"; tb_die "tb$n: freezer stuck in $(cat "$d/freezer.state")"; }
    echo v1 > "$h/frozen"
  elif [[ $want =~ ^(auto|v2)$ ]] && d=$(tb_v2_dir "$n"); then
    echo 1 > "$d/cgroup.freeze"
    for i in $(seq 100); do grep -qx 'frozen 1' "$d/cgroup.events" && break; sleep 0.05; done
    grep -qx 'frozen 1' "$d/cgroup.events" || { echo 0 > "$d/cgroup.freeze"; tb_die "tb$n: cgroup.freeze did not take"; }
    echo v2 > "$h/frozen"
  else
    echo sigstop > "$h/frozen"
    # twice: a process forked while we went through the list is caught the 2nd time
    for i in 1 2; do tb_cgroup_procs "$n" | xargs -r kill -STOP 2>/dev/null || true; done
  fi
}
tb_thaw() {
  local n=$1 h d; h=$(tb_hdir "$n")
  [ -f "$h/frozen" ] || return 0
  case $(cat "$h/frozen") in
    v1) d=$(tb_freezer_dir "$n") && echo THAWED > "$d/freezer.state" ;;
    v2) d=$(tb_v2_dir "$n") && echo 0 > "$d/cgroup.freeze" ;;
    *) tb_cgroup_procs "$n" | xargs -r kill -CONT 2>/dev/null || true ;;
  esac
  rm -f "$h/frozen"
}

# tb_kill_start N -- SIGKILL host N's PID 1 (that ends its pid namespace, i.e. every
# process of the host); thaws it first (frozen tasks would not die).
tb_kill_start() {
  local i
  tb_thaw "$1"
  i=$(tb_init "$1") && kill -KILL "$i" 2>/dev/null
  return 0
}
# tb_kill_wait N... -- wait up to 10 s for the launchers to exit (nspawn needs ~2 s
# after its PID 1 died), then SIGKILL whatever is still in the hosts' cgroups.
tb_kill_wait() {
  local n t alive
  local pids=() p
  for n in "$@"; do p=$(tb_launcher "$n") && pids+=("$p"); done
  for t in $(seq 100); do
    alive=0; for p in "${pids[@]}"; do [ -d "/proc/$p" ] && { alive=1; break; }; done
    [ $alive = 0 ] && break; sleep 0.1
  done
  for n in "$@"; do
    tb_cgroup_procs "$n" | xargs -r kill -KILL 2>/dev/null || true
  done
  for t in $(seq 50); do
    alive=0; for n in "$@"; do [ -n "$(tb_cgroup_procs "$n")" ] && alive=1; done
    [ $alive = 0 ] && break; sleep 0.1
  done
  for n in "$@"; do rm -f "$(tb_hdir "$n")/pid"; done
}

# --- per host: isolation from the machine ------------------------------------------
# Rules of isolate-from-root live in their own chain in the host's netns, so
# unisolate removes exactly them (and nothing a test put into the host's iptables).
tb_ipt() { local n=$1; shift; ip netns exec "tb$n" iptables -w "$@"; }
tb_isolate() {  # N -- drop everything from/to the bridge IP inside host N
  local n=$1
  tb_ipt "$n" -N TESTBED-ISOLATE 2>/dev/null || true
  tb_ipt "$n" -F TESTBED-ISOLATE
  tb_ipt "$n" -A TESTBED-ISOLATE -s "$TB_BR_IP" -j DROP
  tb_ipt "$n" -A TESTBED-ISOLATE -d "$TB_BR_IP" -j DROP
  tb_ipt "$n" -C INPUT -j TESTBED-ISOLATE 2>/dev/null || tb_ipt "$n" -I INPUT -j TESTBED-ISOLATE
  tb_ipt "$n" -C OUTPUT -j TESTBED-ISOLATE 2>/dev/null || tb_ipt "$n" -I OUTPUT -j TESTBED-ISOLATE
}
tb_unisolate() {  # N
  local n=$1
  while tb_ipt "$n" -D INPUT -j TESTBED-ISOLATE 2>/dev/null; do :; done
  while tb_ipt "$n" -D OUTPUT -j TESTBED-ISOLATE 2>/dev/null; do :; done
  tb_ipt "$n" -F TESTBED-ISOLATE 2>/dev/null || true
  tb_ipt "$n" -X TESTBED-ISOLATE 2>/dev/null || true
}
