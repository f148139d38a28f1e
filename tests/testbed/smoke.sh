#!/bin/bash
# smoke.sh [HOSTSPEC] -- check the test bed on three hosts (default 41-43; any that
# are not running are started: the first two in systemd mode, the third plain) and
# print "N passed, N failed". Exit status 1 on any failure. Leaves the hosts up
# (down.sh 41-43 removes them).
set -uo pipefail
D=$(cd "$(dirname "$0")" && pwd)
source "$D/lib.sh"
tb_parse_hosts "${1:-41-43}"
[ ${#TB_HOSTS[@]} -ge 3 ] || tb_die "need at least three hosts"
A=${TB_HOSTS[0]}; B=${TB_HOSTS[1]}; C=${TB_HOSTS[2]}
"$D/up.sh" --mode systemd "$A,$B" && "$D/up.sh" --mode plain "$C" || { echo "0 passed, 1 failed"; exit 1; }
K=$TB_SSH
sshu() { local u=$1 n=$2; shift 2
  ssh -F /dev/null -i "$K/id_ed25519" -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes \
    -o "UserKnownHostsFile=$K/known_hosts" -o ConnectTimeout=5 -o LogLevel=ERROR "$u@$(tb_ip "$n")" "$@" </dev/null; }
s() { sshu root "$@"; }
export -f s sshu tb_ip; export K TB_NET
pass=0; fail=0
check() {
  local what=$1; shift
  if "$@" >/dev/null 2>&1; then pass=$((pass + 1)); echo "ok   $what"
  else fail=$((fail + 1)); echo "FAIL $what"; fi
}
for n in "$A" "$B" "$C"; do
  check "tb$n: ssh (strict host key) -> hostname tb$n" bash -c "[ \"\$(s $n hostname)\" = tb$n ]"
  check "tb$n: eth0 has $(tb_ip "$n")/24" bash -c "s $n 'ip -4 -o addr show eth0' | grep -q ' $(tb_ip "$n")/24 '"
  check "tb$n: routes = 10.250.0.0/24 + the on-link Service range + blackhole default only" \
    bash -c "[ \"\$(s $n 'ip -4 route show' | awk '{print \$1, \$2}' | sort | tr '\n' ';')\" = '10.250.0.0/24 dev;10.68.0.0/16 dev;blackhole default;' ]"
done
for k in id_rsa id_ecdsa; do
  check "key $k works for root" bash -c "ssh -F /dev/null -i $K/$k -o IdentitiesOnly=yes -o BatchMode=yes -o UserKnownHostsFile=$K/known_hosts $(tb_ip "$A") true </dev/null"
done
check "tbuser: sudo -n true" sshu tbuser "$A" 'sudo -n true'
check "tbsudo: sudo -n true refused" bash -c "! sshu tbsudo $A 'sudo -n true'"
check "tbsudo: sudo -S with password" bash -c "[ \"\$(sshu tbsudo $A 'echo tbpass | sudo -S -p \"\" id -u')\" = 0 ]"
check "tb$A -> tb$B:22 over the bridge" s "$A" "timeout 3 bash -c 'exec 3<>/dev/tcp/$(tb_ip "$B")/22'"
s "$A" 'mkdir -p /opt/smoke && echo tb'"$A"' > /opt/smoke/marker'
check "tb$B does not see tb$A's /opt/smoke/marker" s "$B" '! test -e /opt/smoke/marker'
check "the shared rootfs does not either" bash -c "! test -e $TB_ROOTFS/opt/smoke/marker"
check "tb$A's file is at hosts/tb$A/root/opt/smoke/marker" grep -qx "tb$A" "$(tb_hdir "$A")/root/opt/smoke/marker"
check "tb$A: systemctl is-system-running = running" bash -c "[ \"\$(s $A systemctl is-system-running)\" = running ]"
check "tb$C (plain): PID 1 is sshd" bash -c "s $C 'cat /proc/1/comm' | grep -qx sshd"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
