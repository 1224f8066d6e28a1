# Sourced by scripts/e2e-cluster: starting, checking and stopping the
# cluster's components. Uses the variables and helpers defined there.

KUBE_BIN=""
GVISOR_BIN=""
CONTAINERD_BIN=""
kubectl_admin() { "$KUBE_BIN/kubectl" --kubeconfig "$STATE/admin.kubeconfig" "$@"; }

start_etcd() {
  mkdir -p "$STATE/etcd"
  start_process etcd "$KUBE_BIN/etcd" --name e2e --data-dir "$STATE/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$((ETCD_PORT + 10))" \
    --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT + 10))" \
    --initial-cluster "e2e=http://127.0.0.1:$((ETCD_PORT + 10))" \
    --unsafe-no-fsync --quota-backend-bytes 1073741824
  wait_for 60 etcd curl -sf "http://127.0.0.1:$ETCD_PORT/health"
}

start_apiserver() {
  cp "$ROOT/tests/e2e/node/audit-policy.yaml" "$STATE/audit-policy.yaml"
  start_process kube-apiserver "$KUBE_BIN/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address 127.0.0.1 --secure-port "$API_PORT" \
    --advertise-address 127.0.0.1 --endpoint-reconciler-type none \
    --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
    --client-ca-file "$PKI/ca.crt" \
    --authorization-mode Node,RBAC \
    --enable-admission-plugins NodeRestriction \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$PKI/sa.pub" \
    --service-account-signing-key-file "$PKI/sa.key" \
    --service-cluster-ip-range "$SERVICE_CIDR" \
    --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" \
    --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority "$PKI/ca.crt" \
    --kubelet-preferred-address-types InternalIP \
    --audit-policy-file "$STATE/audit-policy.yaml" \
    --audit-log-path "$LOGS/audit.log" --audit-log-format json \
    --audit-log-mode blocking \
    --profiling=false
  wait_for 120 kube-apiserver kubectl_admin get --raw /readyz
}

start_controllers() {
  cert_kubeconfig controller-manager
  cert_kubeconfig scheduler
  start_process kube-controller-manager "$KUBE_BIN/kube-controller-manager" \
    --kubeconfig "$STATE/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$STATE/controller-manager.kubeconfig" \
    --authorization-kubeconfig "$STATE/controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port 0 --leader-elect=false \
    --service-account-private-key-file "$PKI/sa.key" \
    --root-ca-file "$PKI/ca.crt" --use-service-account-credentials \
    --cluster-name e2e --allocate-node-cidrs=false \
    --controllers '*'
  start_process kube-scheduler "$KUBE_BIN/kube-scheduler" \
    --kubeconfig "$STATE/scheduler.kubeconfig" \
    --authentication-kubeconfig "$STATE/scheduler.kubeconfig" \
    --authorization-kubeconfig "$STATE/scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port 0 --leader-elect=false
}

# The node's network namespace: containerd (and so the CNI plugins it runs and
# the shims it starts) lives there, so the pod bridge, its address and the
# pods' veths never appear in the host's namespace.
make_node_netns() {
  ip netns add "$NODE_NETNS"
  ip -n "$NODE_NETNS" link set lo up
}

start_containerd() {
  local images="$1"
  mkdir -p "$STATE/containerd" "$STATE/run" "$STATE/cni"
  sed -e "s#@STATE@#$STATE#g" -e "s#@SOCK@#$CONTAINERD_SOCK#g" \
    -e "s#@STREAM_PORT@#$STREAM_PORT#g" \
    "$ROOT/tests/e2e/node/containerd.toml" >"$STATE/containerd/config.toml"
  sed -e "s#@STATE@#$STATE#g" -e "s#@RUNSC@#$GVISOR_BIN/runsc#g" \
    -e "s#@PLATFORM@#$RUNSC_PLATFORM#g" \
    "$ROOT/tests/e2e/node/runsc.toml" >"$STATE/containerd/runsc.toml"
  sed -e "s#@STATE@#$STATE#g" -e "s#@BRIDGE@#$BRIDGE#g" \
    -e "s#@SUBNET@#$POD_SUBNET#g" -e "s#@GATEWAY@#$POD_GATEWAY#g" \
    "$ROOT/tests/e2e/node/cni.conflist" >"$STATE/cni/10-e2e.conflist"
  # Only the network namespace changes (nsenter, not `ip netns exec`, which
  # would also give containerd a mount namespace of its own). containerd
  # finds containerd-shim-runsc-v1 on its PATH: the e2e node's build of it
  # (tests/e2e/node/shim-oom-score.patch says why).
  start_process containerd env PATH="$GVISOR_BIN/e2e-node:$PATH" \
    nsenter --net="/run/netns/$NODE_NETNS" \
    "$CONTAINERD_BIN" --config "$STATE/containerd/config.toml"
  wait_for 60 containerd ctr --address "$CONTAINERD_SOCK" version
  local tar
  for tar in "$images"/{pause,python,bash,node}.tar; do
    ctr --address "$CONTAINERD_SOCK" -n k8s.io images import "$tar" >/dev/null
  done
}

# The kubelet runs in the node's namespace (so its probes reach the pods,
# and it reaches containerd's streaming server on that namespace's loopback,
# as on any node). The API server, on the host, reaches the kubelet (logs,
# attach, exec) through this relay: it listens on the host's loopback only
# and opens each connection from inside the node namespace.
start_kubelet_relay() {
  start_process kubelet-relay socat \
    "TCP4-LISTEN:$KUBELET_PORT,bind=127.0.0.1,reuseaddr,fork" \
    "EXEC:nsenter --net=/run/netns/$NODE_NETNS socat STDIO TCP4\:127.0.0.1\:$KUBELET_PORT"
}

# The API server listens on the host's loopback only. Pods (and kube-proxy,
# in the node's namespace) reach it through this relay: its node end listens
# on the node namespace's port API_PORT (its loopback, and the pod bridge's
# gateway, where the `kubernetes` Service's endpoint points:
# tests/e2e/node/kubernetes-endpoints.yaml) and hands each connection over a
# Unix socket to its host end, which connects to the API server.
start_api_relay() {
  local sock="$STATE/run/apiserver.sock"
  start_process api-relay-host socat "UNIX-LISTEN:$sock,fork,mode=600" \
    "TCP4:127.0.0.1:$API_PORT"
  wait_for 10 "api relay socket" test -S "$sock"
  start_process api-relay-node nsenter --net="/run/netns/$NODE_NETNS" \
    socat "TCP4-LISTEN:$API_PORT,reuseaddr,fork" "UNIX-CONNECT:$sock"
}

# kube-proxy in the node's namespace: Service addresses (the `kubernetes`
# Service included) work for pods as on any node.
start_kube_proxy() {
  make_cert kube-proxy "/CN=system:kube-proxy"
  cert_kubeconfig kube-proxy
  sed -e "s#@STATE@#$STATE#g" -e "s#@NODE_NAME@#$NODE_NAME#g" \
    -e "s#@SUBNET@#$POD_SUBNET#g" \
    "$ROOT/tests/e2e/node/kube-proxy.yaml" >"$STATE/kube-proxy.yaml"
  nsenter --net="/run/netns/$NODE_NETNS" sysctl -qw net.ipv4.ip_forward=1
  start_process kube-proxy nsenter --net="/run/netns/$NODE_NETNS" \
    "$KUBE_BIN/kube-proxy" --config "$STATE/kube-proxy.yaml"
}

start_kubelet() {
  mkdir -p "$STATE/kubelet" "$STATE/pod-logs"
  # kubelet wants its root dir on a shared mount (volume propagation); "/" is
  # a private mount on these VMs, so make a shared bind mount of its own.
  mount --bind "$STATE/kubelet" "$STATE/kubelet"
  mount --make-rshared "$STATE/kubelet"
  cert_kubeconfig kubelet-client
  mv "$STATE/kubelet-client.kubeconfig" "$STATE/kubelet.kubeconfig"
  sed -e "s#@STATE@#$STATE#g" -e "s#@PKI@#$PKI#g" \
    -e "s#@SOCK@#$CONTAINERD_SOCK#g" \
    "$ROOT/tests/e2e/node/kubelet-config.yaml" >"$STATE/kubelet-config.yaml"
  start_process kubelet nsenter --net="/run/netns/$NODE_NETNS" \
    "$KUBE_BIN/kubelet" --config "$STATE/kubelet-config.yaml" \
    --kubeconfig "$STATE/kubelet.kubeconfig" --root-dir "$STATE/kubelet" \
    --hostname-override "$NODE_NAME" --v 1
}

node_ready() {
  [[ "$(kubectl_admin get node "$NODE_NAME" \
    -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')" == True ]]
}

install_objects() {
  kubectl_admin apply -f "$ROOT/k8s/namespace.yaml" \
    -f "$ROOT/k8s/serviceaccount.yaml" -f "$ROOT/k8s/rbac.yaml" \
    -f "$ROOT/tests/e2e/node/cluster-objects.yaml" \
    -f "$ROOT/tests/e2e/node/adk-peer-rbac.yaml" >/dev/null
  sed -e "s#@GATEWAY@#$POD_GATEWAY#g" -e "s#@API_PORT@#$API_PORT#g" \
    "$ROOT/tests/e2e/node/kubernetes-endpoints.yaml" | kubectl_admin apply -f - >/dev/null
  # bench/compare-adk's namespace: ADK's GkeCodeExecutor's pods do not meet
  # the restricted Pod Security Standard agent-sandbox enforces (no
  # seccompProfile), so the side-by-side runs here, without PSA, both
  # executors with their own Role bound to their agent-sandbox ServiceAccount.
  kubectl_admin create namespace "$BENCH_NAMESPACE" >/dev/null
  { cat "$ROOT/k8s/rbac.yaml"; echo "---"; cat "$ROOT/tests/e2e/node/adk-peer-rbac.yaml"; } |
    sed -e "s/^  namespace: $NAMESPACE\$/  namespace: $BENCH_NAMESPACE/" |
    kubectl_admin apply -f - >/dev/null
  # Pods can only be admitted once the namespace's default ServiceAccount
  # exists (the serviceaccount controller creates it).
  wait_for 60 "ServiceAccount default" kubectl_admin -n "$NAMESPACE" get sa default
  wait_for 60 "ServiceAccount default" kubectl_admin -n "$BENCH_NAMESPACE" get sa default
  local who
  for who in code-executor:executor adk-peer:peer; do
    local token
    token="$(kubectl_admin -n "$NAMESPACE" create token "${who%%:*}" --duration 24h)"
    write_kubeconfig "$STATE/${who##*:}.kubeconfig" "    token: $token"
  done
}

write_env() {
  cat >"$STATE/env" <<EOF
export E2E_STATE_DIR=$STATE
export E2E_KUBE_BIN=$KUBE_BIN
export E2E_KUBECTL=$KUBE_BIN/kubectl
export E2E_API_SERVER=https://127.0.0.1:$API_PORT
export E2E_NAMESPACE=$NAMESPACE
export E2E_BENCH_NAMESPACE=$BENCH_NAMESPACE
export E2E_NODE_NAME=$NODE_NAME
export E2E_NODE_NETNS=$NODE_NETNS
export E2E_POD_GATEWAY=$POD_GATEWAY
export E2E_ADMIN_KUBECONFIG=$STATE/admin.kubeconfig
export E2E_EXECUTOR_KUBECONFIG=$STATE/executor.kubeconfig
export E2E_EXECUTOR_USER=system:serviceaccount:$NAMESPACE:code-executor
export E2E_PEER_KUBECONFIG=$STATE/peer.kubeconfig
export E2E_PEER_USER=system:serviceaccount:$NAMESPACE:adk-peer
export E2E_AUDIT_LOG=$LOGS/audit.log
EOF
}

cluster_up() {
  [[ "$(id -u)" -eq 0 ]] || die "needs root (containerd, kubelet, mounts)"
  local with_agent_sandbox="${1:-}"
  if [[ -f "$STATE/env" ]] && alive kube-apiserver && alive kubelet; then
    log "already up ($STATE)"
    if [[ -n "$with_agent_sandbox" ]] && ! alive agent-sandbox-controller; then
      KUBE_BIN="$("$ROOT/scripts/install-k8s")"
      start_agent_sandbox
    fi
    return 0
  fi
  [[ -d "$STATE" ]] && cluster_down
  KUBE_BIN="$("$ROOT/scripts/install-k8s")"
  GVISOR_BIN="$("$ROOT/scripts/install-gvisor")"
  CONTAINERD_BIN="$("$ROOT/scripts/install-containerd")"
  local images
  images="$("$ROOT/scripts/build-sandbox-images")"
  local start=$SECONDS
  mkdir -p "$STATE" "$LOGS" "$PIDS"
  # A failed `up` shows the logs' ends and leaves nothing running.
  trap 'up_failed' EXIT
  ls /run/netns 2>/dev/null >"$STATE/netns-before" || true
  make_node_netns
  make_pki
  cert_kubeconfig admin
  start_etcd
  start_apiserver
  log "kube-apiserver ready ($((SECONDS - start)) s)"
  start_controllers
  start_containerd "$images"
  start_kubelet_relay
  start_api_relay
  start_kube_proxy
  log "containerd ready, images imported ($((SECONDS - start)) s)"
  start_kubelet
  install_objects
  wait_for 180 "node $NODE_NAME Ready" node_ready
  write_env
  [[ -z "$with_agent_sandbox" ]] || start_agent_sandbox
  trap - EXIT
  log "node $NODE_NAME Ready in $((SECONDS - start)) s; env: scripts/e2e-cluster env"
}

up_failed() {
  local status=$?
  log "up failed; the end of each log:"
  local file
  for file in "$LOGS"/*.log; do
    echo "--- $file" >&2
    tail -n 15 "$file" >&2
  done
  cluster_down
  exit "$status"
}

# The executor's image as scripts/build-executor-image last built it, into
# the node's containerd (the chart runs it with image.pullPolicy Never).
load_executor_image() {
  [[ -f "$STATE/env" ]] || die "not up (scripts/e2e-cluster up)"
  local tar
  tar="$("$ROOT/scripts/build-executor-image" --built)"
  ctr --address "$CONTAINERD_SOCK" -n k8s.io images import "$tar" >/dev/null
  log "imported $tar"
}

cluster_env() {
  [[ -f "$STATE/env" ]] || die "not up (scripts/e2e-cluster up)"
  cat "$STATE/env"
}

cluster_status() {
  local name
  for name in etcd kube-apiserver kube-controller-manager kube-scheduler containerd kubelet \
    kubelet-relay kube-proxy api-relay-host api-relay-node agent-sandbox-controller agent-sandbox-router; do
    if alive "$name"; then echo "$name: running (pid $(cat "$PIDS/$name"))"; else echo "$name: stopped"; fi
  done
}

stop_process() {  # NAME: TERM, then KILL after 10 s
  local name="$1" pid
  [[ -f "$PIDS/$name" ]] || return 0
  pid="$(cat "$PIDS/$name")"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$PIDS/$name"
}

remove_cgroups() {  # the kubepods hierarchy the kubelet made, in every controller
  local dir
  for dir in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do
    [[ -d "$dir" ]] || continue
    find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
}

cluster_down() {
  [[ -d "$STATE" ]] || return 0
  stop_agent_sandbox
  stop_process kubelet
  stop_process kube-proxy
  # Every sandbox gVisor's shim started (runsc --root <root>/<containerd
  # namespace>), then the shims and containerd.
  local runsc root id
  runsc="$(sed -n 's/^binary_name = "\(.*\)"$/\1/p' "$STATE/containerd/runsc.toml" 2>/dev/null)"
  if [[ -x "$runsc" ]]; then
    for root in "$STATE"/runsc-root/*/; do
      [[ -d "$root" ]] || continue
      for id in $("$runsc" --root "$root" list -q 2>/dev/null); do
        "$runsc" --root "$root" kill --all "$id" KILL >/dev/null 2>&1 || true
        "$runsc" --root "$root" delete --force "$id" >/dev/null 2>&1 || true
      done
    done
  fi
  pkill -KILL -f "containerd-shim-run(sc-v1|c-v2) .*-address $CONTAINERD_SOCK" 2>/dev/null || true
  stop_process kubelet-relay
  pkill -KILL -f "socat .*127.0.0.1.$KUBELET_PORT" 2>/dev/null || true  # its forks
  stop_process containerd
  stop_process api-relay-node
  stop_process api-relay-host
  pkill -KILL -f "socat .*$STATE/run/apiserver.sock" 2>/dev/null || true  # forks
  for name in kube-scheduler kube-controller-manager kube-apiserver etcd; do
    stop_process "$name"
  done
  # Mounts under the state dir (kubelet volumes, containerd snapshots, runsc's
  # null network namespace, stacked copies listed once each), deepest first.
  local target
  for target in $(findmnt -rn -o TARGET | grep "^$STATE" | sort -r); do
    umount "$target" 2>/dev/null || umount -l "$target" 2>/dev/null || true
  done
  local netns
  for netns in $(ls /run/netns 2>/dev/null); do
    grep -qx "$netns" "$STATE/netns-before" 2>/dev/null && continue
    [[ "$netns" == cni-* ]] && ip netns delete "$netns" 2>/dev/null || true
  done
  # The bridge and the pods' veth ends go with the node's namespace.
  ip netns delete "$NODE_NETNS" 2>/dev/null || true
  rmdir /run/containerd/s /run/containerd 2>/dev/null || true  # shim sockets' dir
  remove_cgroups
  rm -rf "$STATE"
  log "down: processes stopped, state removed"
}
