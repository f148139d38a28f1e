# tests/real/day2.sh, sourced by tests/real/run after its first day-2 checks: the other day-2
# commands on the real cluster (A master + node, B node, C spare). Uses run's check, retry, K,
# on, nodes_ready, system_pods_ready, web and its variables.

# lb_lists yes|no IP HOST...: every HOST's kube-lb has (yes) or has not (no) IP as an upstream.
lb_lists() {
  local want=$1 ip=$2 h; shift 2
  for h in "$@"; do
    if on "$h" "grep -q 'server $ip:6443' /etc/kube-lb/conf/kube-lb.conf"; then
      [ "$want" = yes ] || { echo "$h: kube-lb still lists $ip"; return 1; }
    else
      [ "$want" = no ] || { echo "$h: kube-lb does not list $ip"; on "$h" cat /etc/kube-lb/conf/kube-lb.conf; return 1; }
    fi
  done
}

# node_dies_during_add_node: C is powered off while `add-node` works on it, then boots again
# with its disk (down.sh --keep-data, up.sh): the failed run leaves the inventory as it was,
# and running the same command again converges.
node_dies_during_add_node() {
  local hosts="$BASE/clusters/default/hosts" out="$LOG/add-node-dies.log" pid i rc
  cp "$hosts" "$LOG/hosts.before"
  "${EZ[@]}" --accept-new-host-keys add-node default "$IPC" > "$out" 2>&1 & pid=$!
  # power off once add-node is at work on C (its container runtime step)
  for i in $(seq 300); do grep -q "\[$IPC\] containerd" "$out" && break; sleep 0.1; done
  grep -q "\[$IPC\] containerd" "$out" || { echo "add-node never reached containerd on $IPC"; tail "$out"; wait $pid; return 1; }
  "$TB/down.sh" --keep-data "$HC" >/dev/null 2>&1
  # a dead host must be noticed in bounded time, not hang the run
  for i in $(seq 240); do kill -0 $pid 2>/dev/null || break; sleep 1; done
  if kill -0 $pid 2>/dev/null; then
    kill $pid; wait $pid; echo "add-node still waiting on the dead $IPC after 240 s"; tail -5 "$out"; return 1
  fi
  wait $pid; rc=$?
  echo "add-node gave up $i s after $IPC died (exit $rc)"
  tail -5 "$out"
  [ $rc != 0 ] || { echo "add-node succeeded although $IPC died"; return 1; }
  cmp "$LOG/hosts.before" "$hosts" || { echo "the inventory changed"; return 1; }
  "$TB/up.sh" "$HC" > "$LOG/testbed-c.log" 2>&1 || { cat "$LOG/testbed-c.log"; return 1; }
}

day2_more() {
  check "node $IPC dies during add-node: add-node fails, inventory unchanged" node_dies_during_add_node
  check "add-node $IPC again after it booted: converges" "${EZ[@]}" add-node default "$IPC"
  check "3 nodes Ready" retry 180 nodes_ready 3
  check "del-node $IPC" "${EZ[@]}" del-node default "$IPC"
  check "2 nodes Ready after del-node" retry 60 nodes_ready 2

  check "add-master $IPC" "${EZ[@]}" add-master default "$IPC"
  check "3 nodes Ready with the second master" retry 180 nodes_ready 3
  check "every kube-lb lists the new master $IPC" lb_lists yes "$IPC" "$IPA" "$IPB" "$IPC"
  check "the API answers through $IPC" sh -c "K --server https://$IPC:6443 get ns default"
  check "del-master $IPC" "${EZ[@]}" del-master default "$IPC"
  check "2 nodes Ready after del-master" retry 120 nodes_ready 2
  check "no kube-lb lists $IPC any more" lb_lists no "$IPC" "$IPA" "$IPB"

  local ca="$BASE/clusters/default/ssl/ca.pem" before
  before=$(sha256sum "$ca" 2>/dev/null)
  check "kca-renew" "${EZ[@]}" kca-renew default
  check "a new CA" sh -c "[ \"\$(sha256sum $ca)\" != '$before' ]"
  check "2 nodes Ready after kca-renew" retry 240 nodes_ready 2
  check "kube-system pods Ready after kca-renew" retry 300 system_pods_ready
  # (web-b went with B's del-node: the pod garbage collector deletes pods of a deleted node)
  check "kubectl logs and exec after kca-renew" retry 60 sh -c \
    "K logs web-a | grep -q 'web started' && K exec web-a -- hostname | grep -x web-a"

  check "destroy" "${EZ[@]}" destroy default
  destroyed() { # nothing of the cluster runs on A or B
    local h
    for h in "$IPA" "$IPB"; do
      on "$h" 'for s in kubelet kube-proxy kube-apiserver etcd containerd kube-lb; do
        systemctl is-active -q $s && { echo "$s still active on $(hostname)"; exit 1; }; done
        [ ! -e /etc/kubernetes/ssl ] || { echo "/etc/kubernetes/ssl left on $(hostname)"; exit 1; }' || return 1
    done
  }
  check "destroy left no service running and no certificate" destroyed
  [ -n "$KUBE_PREV" ] || { say "no earlier release built: destroy + start-aio + upgrade left out"; return; }

  # start-aio again on the destroyed A, at the previous patch release, then upgrade.
  BASE2=$(mktemp -d /tmp/ez-real2.XXXXXX)
  local EZ2=("$EZCTL" --base "$BASE2" -y --accept-new-host-keys)
  # the versions up built, with the previous kubernetes release (-k and a --versions file
  # that names another release are refused as a contradiction)
  local vy prev_args
  vy=$(printf '%s\n' "$EZDOWN_ARGS" | sed -n 's/.*--versions \([^ ]*\).*/\1/p')
  sed "s/^kubernetes: .*/kubernetes: \"$KUBE_PREV\"/" "$vy" > "$LOG/versions-prev.yml"
  prev_args=${EZDOWN_ARGS/--versions $vy/--versions $LOG/versions-prev.yml}
  # shellcheck disable=SC2086
  check "ezdown -D at $KUBE_PREV (a second bundle)" "$EZDOWN" -D --base "$BASE2" $prev_args \
    --network flannel --without nodelocaldns --image "library/busybox:$BUSYBOX" "${REAL_KUBE_LB_FILES[@]}"
  check "start-aio again on the destroyed $IPA at $KUBE_PREV" "${EZ2[@]}" start-aio --ip "$IPA" \
    --ssh-key "$KEY" --network flannel "${REAL_HOST_SETTINGS[@]}"
  printf '#!/bin/sh\nexec %q --kubeconfig %q --request-timeout=20s "$@"\n' "$BASE2/bin/kubectl" \
    "$BASE2/clusters/default/kubectl.kubeconfig" > "$LOG/K"
  check "1 node Ready at $KUBE_PREV" retry 120 nodes_ready 1 "$KUBE_PREV"
  keeper() { web keeper "$NA" | K apply -f - && K wait --for=condition=Ready pod/keeper --timeout=120s; }
  check "a workload before the upgrade" keeper
  local uid; uid=$(K get pod keeper -o jsonpath='{.metadata.uid}')
  # kubeasz's way: the new release's binaries into <base>/bin, then `ezctl upgrade`.
  local b
  for b in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl; do
    cp -f "$BASE/bin/$b" "$BASE2/bin/$b"
  done
  check "upgrade $KUBE_PREV -> the bundle's release" "${EZ2[@]}" upgrade default
  check "1 node Ready at the new release" retry 180 nodes_ready 1
  check "the workload kept (same pod, serving)" retry 120 sh -c \
    "[ \"\$(K get pod keeper -o jsonpath='{.metadata.uid}')\" = $uid ] && K exec keeper -- hostname | grep -x keeper"
  check "upgrade again: refused, nothing to do" sh -c "! $(printf '%q ' "${EZ2[@]}") upgrade default"
}
