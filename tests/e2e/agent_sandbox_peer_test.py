"""kubernetes-sigs/agent-sandbox, the warm-pool peer bench/compare-adk runs
beside ours, installs on the e2e cluster and serves a claim: its controller
hands a pod of the warm pool to a SandboxClaim, its SDK (through the
sandbox-router) writes and runs the code there, and releasing the claim
removes the pod while the pool refills. Run by ctest (label e2e) after
`scripts/e2e-cluster up --with-agent-sandbox`; reads the cluster's env file.
"""

import json
import os
import shlex
import subprocess
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def cluster_env():
    text = subprocess.run([f"{ROOT}/scripts/e2e-cluster", "env"], check=True,
                          capture_output=True, text=True).stdout
    env = {}
    for line in text.splitlines():
        words = shlex.split(line)
        if words and words[0] == "export":
            key, _, value = words[1].partition("=")
            env[key] = value
    return env


def wait_until(what, predicate, timeout=120):
    deadline = time.time() + timeout
    while not predicate():
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)


class AgentSandboxPeerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        from k8s_agent_sandbox import SandboxClient
        from k8s_agent_sandbox.models import SandboxDirectConnectionConfig
        from kubernetes import client, config

        cls.env = cluster_env()
        if "E2E_AGENT_SANDBOX_ROUTER_URL" not in cls.env:
            raise AssertionError("the cluster has no agent-sandbox: "
                                 "scripts/e2e-cluster up --with-agent-sandbox")
        cls.namespace = cls.env["E2E_BENCH_NAMESPACE"]
        cls.pool = cls.env["E2E_AGENT_SANDBOX_WARM_POOL"]
        cls.pool_size = int(cls.env["E2E_AGENT_SANDBOX_POOL_SIZE"])
        cls.sdk = SandboxClient(
            connection_config=SandboxDirectConnectionConfig(
                api_url=cls.env["E2E_AGENT_SANDBOX_ROUTER_URL"]),
            api_client=config.new_client_from_config(
                config_file=cls.env["E2E_AGENT_SANDBOX_KUBECONFIG"]))
        admin = config.new_client_from_config(
            config_file=cls.env["E2E_ADMIN_KUBECONFIG"])
        cls.core = client.CoreV1Api(admin)
        cls.custom = client.CustomObjectsApi(admin)

    def pool_ready(self):
        pool = self.custom.get_namespaced_custom_object(
            "extensions.agents.x-k8s.io", "v1beta1", self.namespace,
            "sandboxwarmpools", self.pool)
        return (pool.get("status") or {}).get("readyReplicas", 0)

    def claims(self):
        return self.custom.list_namespaced_custom_object(
            "extensions.agents.x-k8s.io", "v1beta1", self.namespace,
            "sandboxclaims")["items"]

    def pod_exists(self, name):
        return any(p.metadata.name == name for p in
                   self.core.list_namespaced_pod(self.namespace).items)

    def test_a_claim_from_the_warm_pool_runs_print_1_under_gvisor(self):
        wait_until("a full warm pool", lambda: self.pool_ready() == self.pool_size)
        started = time.time()
        sandbox = self.sdk.create_sandbox(warmpool=self.pool,
                                          namespace=self.namespace)
        claim = sandbox.claim_name
        pod_name = sandbox.get_pod_name()
        try:
            # A pod of the pool (the pool names its pods, not the claim).
            self.assertNotEqual(pod_name, claim)
            pod = self.core.read_namespaced_pod(pod_name, self.namespace)
            self.assertEqual(pod.spec.runtime_class_name, "gvisor")
            self.assertEqual(pod.spec.containers[0].resources.limits,
                             {"cpu": "500m", "memory": "512Mi"})
            sandbox.files.write("script.py", "print(1)")
            result = sandbox.commands.run("python3 script.py")
            self.assertEqual((result.stdout, result.stderr, result.exit_code),
                             ("1\n", "", 0))
            # The runtime's user, not root, and gVisor's kernel under it.
            who = sandbox.commands.run("id -u")
            self.assertEqual(who.stdout, "1000\n")
            kernel = sandbox.commands.run("cat /proc/version")
            self.assertEqual(kernel.exit_code, 0)
            self.assertNotIn(os.uname().release, kernel.stdout)
        finally:
            self.sdk.delete_sandbox(claim, self.namespace)
        # Released: the claim and its pod go, the pool refills.
        wait_until("the claim deleted",
                   lambda: all(c["metadata"]["name"] != claim
                               for c in self.claims()))
        wait_until("the claimed pod deleted", lambda: not self.pod_exists(pod_name))
        wait_until("the pool refilled", lambda: self.pool_ready() == self.pool_size,
                   timeout=180)
        # bench/compare-adk counts the SDK's and the controller's requests
        # from the audit log: both must be in it.
        users = {self.env["E2E_AGENT_SANDBOX_USER"]: set(),
                 self.env["E2E_AGENT_SANDBOX_CONTROLLER_USER"]: set()}
        with open(self.env["E2E_AUDIT_LOG"]) as log:
            for line in log:
                event = json.loads(line)
                user = event.get("user", {}).get("username")
                ref = event.get("objectRef") or {}
                if user in users and ref.get("namespace") == self.namespace:
                    users[user].add(f"{event['verb']} {ref.get('resource')}")
        self.assertIn("create sandboxclaims",
                      users[self.env["E2E_AGENT_SANDBOX_USER"]])
        self.assertTrue(users[self.env["E2E_AGENT_SANDBOX_CONTROLLER_USER"]],
                        "no audit event of agent-sandbox's controller")
        self.assertLess(time.time() - started, 300)


if __name__ == "__main__":
    unittest.main()
