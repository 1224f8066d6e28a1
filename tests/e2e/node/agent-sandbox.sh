# Sourced by scripts/e2e-cluster: kubernetes-sigs/agent-sandbox on the e2e
# cluster, opt-in (`scripts/e2e-cluster up --with-agent-sandbox`), the peer
# bench/compare-adk measures our warm pool against. Uses the variables and
# helpers of scripts/e2e-cluster and cluster-components.sh.
#
# - CRDs and ClusterRoles from the pinned module (scripts/install-agent-sandbox);
#   tests/e2e/node/agent-sandbox-objects.yaml around them (the controller's
#   ServiceAccount and bindings, the caller's Role, a SandboxTemplate with our
#   limits under gVisor, a SandboxWarmPool of AGENT_SANDBOX_POOL_SIZE).
# - The controller as a host process (like kube-controller-manager here) with
#   its ServiceAccount's token, --extensions as its release manifests run it.
# - The router (sandbox-router) inside the node's network namespace, where the
#   pod IPs are, listening on that namespace's loopback; a relay on the host's
#   loopback opens each connection from inside it (as for the kubelet). The SDK sends each request there with the pod's IP
#   (X-Sandbox-Pod-IP), so the router needs no API access.

AGENT_SANDBOX_POOL_SIZE="${E2E_AGENT_SANDBOX_POOL_SIZE:-4}"
AGENT_SANDBOX_POOL=python-sandbox-pool
ROUTER_PORT="${E2E_ROUTER_PORT:-16088}"

agent_sandbox_pool_ready() {
  [[ "$(kubectl_admin -n "$BENCH_NAMESPACE" get sandboxwarmpool \
    "$AGENT_SANDBOX_POOL" -o 'jsonpath={.status.readyReplicas}')" == \
    "$AGENT_SANDBOX_POOL_SIZE" ]]
}

start_agent_sandbox() {
  local dir images version start=$SECONDS
  dir="$("$ROOT/scripts/install-agent-sandbox")"
  version="$(cat "$dir/version")"
  images="$(AGENT_SANDBOX_DIR="$dir" "$ROOT/scripts/build-sandbox-images")"
  ctr --address "$CONTAINERD_SOCK" -n k8s.io images import \
    "$images/agent-sandbox-python.tar" >/dev/null
  kubectl_admin apply -f "$dir/k8s/crds" -f "$dir/k8s/rbac.generated.yaml" \
    -f "$dir/k8s/extensions-rbac.generated.yaml" >/dev/null
  kubectl_admin wait --for condition=Established --timeout 60s \
    crd/sandboxes.agents.x-k8s.io crd/sandboxclaims.extensions.agents.x-k8s.io \
    crd/sandboxtemplates.extensions.agents.x-k8s.io \
    crd/sandboxwarmpools.extensions.agents.x-k8s.io >/dev/null
  sed -e "s/@BENCH_NAMESPACE@/$BENCH_NAMESPACE/g" \
    -e "s/@HOME_NAMESPACE@/$NAMESPACE/g" \
    -e "s#@IMAGE@#docker.io/library/sandbox-runtime:$version#g" \
    -e "s/@POOL_SIZE@/$AGENT_SANDBOX_POOL_SIZE/g" \
    "$ROOT/tests/e2e/node/agent-sandbox-objects.yaml" |
    kubectl_admin apply -f - >/dev/null
  local token
  token="$(kubectl_admin -n agent-sandbox-system create token \
    agent-sandbox-controller --duration 24h)"
  write_kubeconfig "$STATE/agent-sandbox-controller.kubeconfig" "    token: $token"
  token="$(kubectl_admin -n "$NAMESPACE" create token agent-sandbox-peer \
    --duration 24h)"
  write_kubeconfig "$STATE/agent-sandbox-peer.kubeconfig" "    token: $token"
  # Metrics and health endpoints off ("0"): nothing of the peer listens
  # beyond what the benchmark uses.
  start_process agent-sandbox-controller \
    env KUBECONFIG="$STATE/agent-sandbox-controller.kubeconfig" \
    "$dir/bin/agent-sandbox-controller" --extensions --leader-elect=false \
    --metrics-bind-address 0 --health-probe-bind-address 0
  start_process agent-sandbox-router nsenter --net="/run/netns/$NODE_NETNS" \
    "$dir/bin/sandbox-router" --http-bind-address "127.0.0.1:$ROUTER_PORT" \
    --metrics-bind-address 127.0.0.1:0 --health-probe-bind-address 127.0.0.1:0
  start_process agent-sandbox-router-relay socat \
    "TCP4-LISTEN:$ROUTER_PORT,bind=127.0.0.1,reuseaddr,fork" \
    "EXEC:nsenter --net=/run/netns/$NODE_NETNS socat STDIO TCP4\:127.0.0.1\:$ROUTER_PORT"
  wait_for 180 "agent-sandbox warm pool of $AGENT_SANDBOX_POOL_SIZE" \
    agent_sandbox_pool_ready
  wait_for 30 "sandbox-router" curl -sf "http://127.0.0.1:$ROUTER_PORT/healthz"
  cat >>"$STATE/env" <<ENV
export E2E_AGENT_SANDBOX_VERSION=$version
export E2E_AGENT_SANDBOX_ROUTER_URL=http://127.0.0.1:$ROUTER_PORT
export E2E_AGENT_SANDBOX_KUBECONFIG=$STATE/agent-sandbox-peer.kubeconfig
export E2E_AGENT_SANDBOX_USER=system:serviceaccount:$NAMESPACE:agent-sandbox-peer
export E2E_AGENT_SANDBOX_CONTROLLER_USER=system:serviceaccount:agent-sandbox-system:agent-sandbox-controller
export E2E_AGENT_SANDBOX_CONTROLLER_PID_FILE=$PIDS/agent-sandbox-controller
export E2E_AGENT_SANDBOX_WARM_POOL=$AGENT_SANDBOX_POOL
export E2E_AGENT_SANDBOX_POOL_SIZE=$AGENT_SANDBOX_POOL_SIZE
ENV
  log "agent-sandbox $version: controller, router, warm pool of" \
    "$AGENT_SANDBOX_POOL_SIZE ready in $((SECONDS - start)) s"
}

stop_agent_sandbox() {
  stop_process agent-sandbox-router-relay
  pkill -KILL -f "socat .*127.0.0.1.$ROUTER_PORT" 2>/dev/null || true  # its forks
  stop_process agent-sandbox-router
  stop_process agent-sandbox-controller
}
