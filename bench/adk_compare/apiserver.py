"""The API servers the comparison runs against: the fake kube-apiserver
(tests/fake_kube, instant kubelet) and, when E2E_ENV_FILE is set, a real
cluster. Both answer the same questions: kubeconfigs for each side, request
counts per verb and resource in a time window, and what is left in the
namespace."""

import collections
import datetime
import json
import os
import re
import shlex
import subprocess
import tempfile
import time
import urllib.request

# Canned pod logs of the instant kubelet, in the framing of code-executor's
# in-pod launcher ("@ce1 o <base64 stdout>", "@ce1 x <exit code>"); the peer
# returns them verbatim as its stdout.
PRINT_1_LOG = "@ce1 o MQo=\n@ce1 x 0\n"  # "1\n", exit 0
TTFB_FIRST_LOG = "@ce1 o YQo=\n"  # "a\n" when the container starts
TTFB_FINAL_LOG = "@ce1 o Ygo=\n@ce1 x 0\n"  # "b\n" 2 s later, exit 0

KUBECONFIG = """apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster: {{server: "{url}"}}
users:
- name: {user}
  user: {{token: {user}-token}}
contexts:
- name: fake
  context: {{cluster: fake, user: {user}}}
current-context: fake
"""


def kube_client(kubeconfig):
    """(CoreV1Api, BatchV1Api) of a kubeconfig, without touching the
    process-wide default configuration."""
    from kubernetes import client, config

    api = config.new_client_from_config(config_file=kubeconfig)
    return client.CoreV1Api(api), client.BatchV1Api(api)


def classify(kind, obj):
    """'ours', 'pool' (our warm pool's idle pods, their Jobs and the
    launcher ConfigMap: there by design while our server runs), 'peer' or
    None for an object in the namespace."""
    meta = obj.metadata
    labels = meta.labels or {}
    name = meta.name or ""
    if kind == "pods":
        name = labels.get("job-name", "")
    if labels.get("app.kubernetes.io/managed-by") == "code-executor":
        return "pool" if name.startswith(("cw-", "ce-launcher-")) else "ours"
    if name.startswith(("adk-exec-", "code-src-adk-exec-")):
        return "peer"
    return None


class ApiServer:
    """What both kinds of API server offer the orchestrator."""

    name = ""
    namespace = ""
    admin_kubeconfig = ""
    peer_kubeconfig = ""
    executor_kubeconfig = ""

    def __init__(self):
        self._core = self._batch = None

    def apis(self):
        if self._core is None:
            self._core, self._batch = kube_client(self.admin_kubeconfig)
        return self._core, self._batch

    def objects(self):
        """{'ours'|'pool'|'peer': {'jobs','pods','configmaps',
        'pods_running'}}."""
        core, batch = self.apis()
        counts = {
            side: collections.Counter(jobs=0, pods=0, configmaps=0, pods_running=0)
            for side in ("ours", "pool", "peer")
        }
        listed = {
            "jobs": batch.list_namespaced_job(self.namespace).items,
            "pods": core.list_namespaced_pod(self.namespace).items,
            "configmaps": core.list_namespaced_config_map(self.namespace).items,
        }
        for kind, items in listed.items():
            for obj in items:
                side = classify(kind, obj)
                if side is None:
                    continue
                counts[side][kind] += 1
                if kind == "pods" and obj.status.phase in ("Pending", "Running"):
                    counts[side]["pods_running"] += 1
        return {side: dict(c) for side, c in counts.items()}

    def clean_up(self, timeout=120):
        """Deletes what the peer left (its Jobs, with Background
        propagation, and their ConfigMaps) and waits until neither side has
        anything in the namespace."""
        core, batch = self.apis()
        deadline = time.time() + timeout
        while time.time() < deadline:
            for job in batch.list_namespaced_job(self.namespace).items:
                if classify("jobs", job) == "peer":
                    _ignore_404(
                        batch.delete_namespaced_job,
                        job.metadata.name,
                        self.namespace,
                        propagation_policy="Background",
                    )
            for cm in core.list_namespaced_config_map(self.namespace).items:
                if classify("configmaps", cm) == "peer":
                    _ignore_404(
                        core.delete_namespaced_config_map,
                        cm.metadata.name,
                        self.namespace,
                    )
            left = self.objects()
            if not any(v for side in left.values() for k, v in side.items()):
                return
            time.sleep(1)
        raise RuntimeError(f"namespace not clean after {timeout}s: {left}")

    def stop(self):
        pass


def _ignore_404(call, *args, **kwargs):
    from kubernetes.client.exceptions import ApiException

    try:
        call(*args, **kwargs)
    except ApiException as e:
        if e.status != 404:
            raise


class FakeApiServer(ApiServer):
    """tests/fake_kube's fake_kube_apiserver binary with its instant kubelet;
    counts come from its /debug/fake/requests endpoint."""

    def __init__(self, binary, mode="instant", namespace="agent-sandbox"):
        super().__init__()
        self.name = "fake"
        self.mode = mode
        self.namespace = namespace
        self.dir = tempfile.mkdtemp(prefix="adk-compare-fake-")
        args = [binary, "--kubelet", "instant", "--ports_file", f"{self.dir}/port"]
        if mode == "instant":
            args += ["--instant_log", PRINT_1_LOG]
        elif mode == "ttfb":
            args += ["--instant_run_ms", "2000", "--instant_log", TTFB_FIRST_LOG,
                     "--instant_final_log", TTFB_FINAL_LOG]
        elif mode == "timeout":
            args += ["--instant_run_ms", "600000", "--instant_log", ""]
        self.command = args
        self.log = open(f"{self.dir}/fake.log", "w")
        self.process = subprocess.Popen(args, stdout=self.log, stderr=self.log)
        for _ in range(200):
            if os.path.exists(f"{self.dir}/port"):
                break
            time.sleep(0.05)
        with open(f"{self.dir}/port") as f:
            self.url = f"http://127.0.0.1:{f.read().strip()}"
        for user in ("admin", "peer", "executor"):
            with open(f"{self.dir}/{user}.kubeconfig", "w") as f:
                f.write(KUBECONFIG.format(url=self.url, user=user))
        self.admin_kubeconfig = f"{self.dir}/admin.kubeconfig"
        self.peer_kubeconfig = f"{self.dir}/peer.kubeconfig"
        self.executor_kubeconfig = f"{self.dir}/executor.kubeconfig"

    def begin_window(self):
        urllib.request.urlopen(
            urllib.request.Request(f"{self.url}/debug/fake/reset", method="POST")
        ).read()
        return time.time()

    def requests(self, side, start, end):
        """{"verb resource": count}, watches opened, and the fake's whole
        answer, for everything since begin_window (one side runs at a
        time, so `side` needs no filter here)."""
        with urllib.request.urlopen(
            f"{self.url}/debug/fake/requests?namespace={self.namespace}"
        ) as response:
            stats = json.load(response)
        counts = {
            f"{r['verb']} {r['resource']}": r["count"] for r in stats["requests"]
        }
        return counts, stats["watches_opened"], stats

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()


class RealApiServer(ApiServer):
    """A real cluster described by E2E_ENV_FILE (lines `export VAR=...`);
    counts come from the kube-apiserver audit log, filtered by user."""

    def __init__(self, env_file):
        super().__init__()
        self.name = "real"
        env = {}
        with open(env_file) as f:
            for line in f:
                words = shlex.split(line, comments=True)
                if words and words[0] == "export":
                    words = words[1:]
                for word in words:
                    if "=" in word:
                        key, value = word.split("=", 1)
                        env[key] = value
        self.env = env
        # agent-sandbox enforces the restricted Pod Security Standard, which
        # ADK's pods fail (no seccompProfile): the cluster provides a
        # namespace without it where both sides have their Roles.
        self.namespace = env.get(
            "E2E_BENCH_NAMESPACE", env.get("E2E_NAMESPACE", "agent-sandbox"))
        self.admin_kubeconfig = env["E2E_ADMIN_KUBECONFIG"]
        self.peer_kubeconfig = env["E2E_PEER_KUBECONFIG"]
        self.executor_kubeconfig = env["E2E_EXECUTOR_KUBECONFIG"]
        self.audit_log = env["E2E_AUDIT_LOG"]
        self.users = {
            "peer": env["E2E_PEER_USER"],
            "ours": env["E2E_EXECUTOR_USER"],
        }
        self.command = [f"E2E_ENV_FILE={env_file}"]
        # kubernetes-sigs/agent-sandbox, when the cluster came up
        # --with-agent-sandbox: its SDK's user and its controller's.
        self.agent_sandbox = None
        if "E2E_AGENT_SANDBOX_ROUTER_URL" in env:
            self.agent_sandbox = {
                "router_url": env["E2E_AGENT_SANDBOX_ROUTER_URL"],
                "kubeconfig": env["E2E_AGENT_SANDBOX_KUBECONFIG"],
                "warm_pool": env["E2E_AGENT_SANDBOX_WARM_POOL"],
                "pool_size": int(env["E2E_AGENT_SANDBOX_POOL_SIZE"]),
                "controller_pid_file":
                    env["E2E_AGENT_SANDBOX_CONTROLLER_PID_FILE"],
                "version": env.get("E2E_AGENT_SANDBOX_VERSION", "?"),
            }
            self.users["agent-sandbox"] = env["E2E_AGENT_SANDBOX_USER"]
            self.users["agent-sandbox controller"] = env[
                "E2E_AGENT_SANDBOX_CONTROLLER_USER"]

    def agent_sandbox_objects(self):
        """What agent-sandbox's side left: SandboxClaims, the Sandboxes
        claimed from the pool (owned by a claim) and their pods; the pool's
        unclaimed ones are there by design."""
        from kubernetes import client

        custom = client.CustomObjectsApi(self.apis()[0].api_client)
        claims = custom.list_namespaced_custom_object(
            "extensions.agents.x-k8s.io", "v1beta1", self.namespace,
            "sandboxclaims")["items"]
        sandboxes = custom.list_namespaced_custom_object(
            "agents.x-k8s.io", "v1beta1", self.namespace, "sandboxes")["items"]
        claimed = {s["metadata"]["name"] for s in sandboxes
                   if any(ref.get("kind") == "SandboxClaim" for ref in
                          s["metadata"].get("ownerReferences") or [])}
        pods = [p for p in self.apis()[0].list_namespaced_pod(
            self.namespace).items if p.metadata.name in claimed]
        return {"sandboxclaims": len(claims), "sandboxes": len(claimed),
                "pods": len(pods),
                "pods_running": sum(1 for p in pods if p.status.phase in
                                    ("Pending", "Running"))}

    def agent_sandbox_pool_ready(self):
        from kubernetes import client

        custom = client.CustomObjectsApi(self.apis()[0].api_client)
        pool = custom.get_namespaced_custom_object(
            "extensions.agents.x-k8s.io", "v1beta1", self.namespace,
            "sandboxwarmpools", self.agent_sandbox["warm_pool"])
        return (pool.get("status") or {}).get("readyReplicas", 0)

    def wait_agent_sandbox_pool(self, timeout=300):
        """Until agent-sandbox's warm pool is full again (the warm-up and
        every workload claim from it)."""
        deadline = time.time() + timeout
        while self.agent_sandbox_pool_ready() < self.agent_sandbox["pool_size"]:
            if time.time() > deadline:
                raise RuntimeError(f"agent-sandbox's warm pool did not refill "
                                   f"in {timeout}s")
            time.sleep(0.2)

    def agent_sandbox_controller_kb(self):
        """(VmHWM, VmRSS) of agent-sandbox's controller process, in kB."""
        from .worker import proc_status_kb

        with open(self.agent_sandbox["controller_pid_file"]) as f:
            pid = f.read().strip()
        return proc_status_kb("VmHWM", pid), proc_status_kb("VmRSS", pid)

    def clean_up_agent_sandbox(self, timeout=120):
        """Deletes the SandboxClaims agent-sandbox's side left and waits
        until nothing it claimed is left and its pool is full."""
        from kubernetes import client

        custom = client.CustomObjectsApi(self.apis()[0].api_client)
        for claim in custom.list_namespaced_custom_object(
                "extensions.agents.x-k8s.io", "v1beta1", self.namespace,
                "sandboxclaims")["items"]:
            _ignore_404(custom.delete_namespaced_custom_object,
                        "extensions.agents.x-k8s.io", "v1beta1",
                        self.namespace, "sandboxclaims",
                        claim["metadata"]["name"])
        deadline = time.time() + timeout
        while any(self.agent_sandbox_objects().values()):
            if time.time() > deadline:
                raise RuntimeError("agent-sandbox's claimed sandboxes not "
                                   f"gone after {timeout}s")
            time.sleep(1)
        self.wait_agent_sandbox_pool(timeout)

    def begin_window(self):
        return time.time()

    def set_warm_pool_rbac(self, size):
        """Our Role in the bench namespace as the chart renders it with
        kubernetes.warmPool.size=`size` (0: k8s/rbac.yaml's, as the cluster
        was set up): a warm pool also needs pods/attach. Namespaced the way
        scripts/e2e-cluster does it: the Role and its binding in the bench
        namespace, the ServiceAccount still agent-sandbox's."""
        root = os.path.dirname(os.path.dirname(os.path.dirname(
            os.path.abspath(__file__))))
        helm = os.environ.get("HELM") or subprocess.run(
            [f"{root}/scripts/install-helm"], check=True, text=True,
            capture_output=True).stdout.strip()
        home = self.env.get("E2E_NAMESPACE", "agent-sandbox")
        rendered = subprocess.run(
            [helm, "template", "code-executor", f"{root}/charts/code-executor",
             "--namespace", home, "--show-only", "templates/rbac.yaml",
             "--set", f"config.kubernetes.warmPool.size={size}"],
            check=True, text=True, capture_output=True).stdout
        moved = re.sub(rf"^  namespace: {re.escape(home)}$",
                       f"  namespace: {self.namespace}", rendered, flags=re.M)
        subprocess.run([self.env["E2E_KUBECTL"], "--kubeconfig",
                        self.admin_kubeconfig, "apply", "-f", "-"],
                       input=moved, check=True, text=True,
                       capture_output=True)

    def requests(self, side, start, end, settle=5.0):
        """Counts of audit events of `side`'s user received in [start, end]
        (one per auditID), after giving the audit backend time to flush."""
        time.sleep(settle)
        if side == "agent-sandbox":
            # The SDK's requests, and its controller's, which does the work
            # our server does for ours (claiming, pods, refilling the pool).
            users = {self.users["agent-sandbox"]: "",
                     self.users["agent-sandbox controller"]: "controller: "}
        else:
            users = {self.users["peer" if side == "peer" else "ours"]: ""}
        seen = {}
        with open(self.audit_log) as f:
            for line in f:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                prefix = users.get(event.get("user", {}).get("username"))
                if prefix is None:
                    continue
                ref = event.get("objectRef") or {}
                if ref.get("namespace") not in (None, self.namespace):
                    continue
                when = _parse_time(event.get("requestReceivedTimestamp"))
                if when is None or not start <= when <= end:
                    continue
                resource = ref.get("resource", event.get("requestURI", "?"))
                if ref.get("subresource"):
                    resource += "/" + ref["subresource"]
                seen[event.get("auditID")] = (
                    f"{prefix}{event.get('verb')} {resource}")
        counts = collections.Counter(seen.values())
        watches = sum(c for key, c in counts.items() if key.startswith("watch "))
        return dict(counts), watches, {"audit_events": len(seen)}


def _parse_time(text):
    if not text:
        return None
    text = text.rstrip("Z")
    if "." in text:
        head, frac = text.split(".", 1)
        text = f"{head}.{frac[:6]}"
        fmt = "%Y-%m-%dT%H:%M:%S.%f"
    else:
        fmt = "%Y-%m-%dT%H:%M:%S"
    return (
        datetime.datetime.strptime(text, fmt)
        .replace(tzinfo=datetime.timezone.utc)
        .timestamp()
    )
