"""ADK's GkeCodeExecutor and the kubernetes Python client against the fake
kube-apiserver: what bench/compare-adk relies on.

  FAKE_KUBE_APISERVER=build/tests/fake_kube/fake_kube_apiserver \
      PYTHONPATH=bench build/venv/bin/python -m pytest bench/adk_compare
"""

import json
import os
import time
import types
import urllib.request

import pytest

kubernetes = pytest.importorskip("kubernetes")
pytest.importorskip("google.adk.code_executors.gke_code_executor")

from .apiserver import PRINT_1_LOG, FakeApiServer  # noqa: E402

BINARY = os.environ.get("FAKE_KUBE_APISERVER",
                        "build/tests/fake_kube/fake_kube_apiserver")


@pytest.fixture
def fake():
    if not os.path.exists(BINARY):
        pytest.skip(f"{BINARY} is not built")
    api = FakeApiServer(BINARY, "instant", namespace="bench")
    yield api
    api.stop()


def stats(api):
    with urllib.request.urlopen(f"{api.url}/debug/fake/requests") as r:
        return json.load(r)


def test_load_kube_config_and_batch_v1(fake):
    kubernetes.config.load_kube_config(config_file=fake.admin_kubeconfig)
    batch = kubernetes.client.BatchV1Api()
    assert batch.list_namespaced_job("bench").items == []


def test_gke_code_executor_runs_and_its_objects_are_collected(fake):
    from google.adk.code_executors.code_execution_utils import (
        CodeExecutionInput,
    )
    from google.adk.code_executors.gke_code_executor import GkeCodeExecutor

    executor = GkeCodeExecutor(kubeconfig_path=fake.peer_kubeconfig,
                               namespace="bench")
    context = types.SimpleNamespace(invocation_id="inv-1")
    result = executor.execute_code(context, CodeExecutionInput(code="print(1)"))
    assert (result.stdout, result.stderr, result.exit_code) == (
        PRINT_1_LOG, "", 0)

    counts = {(r["verb"], r["resource"]): r["count"]
              for r in stats(fake)["requests"]}
    assert counts == {("create", "configmaps"): 1, ("create", "jobs"): 1,
                      ("patch", "configmaps"): 1, ("watch", "jobs"): 1,
                      ("list", "pods"): 1, ("get", "pods/log"): 1}
    assert stats(fake)["patch_content_types"] == {
        "application/strategic-merge-patch+json": 1}
    core, batch = fake.apis()
    (cm,) = core.list_namespaced_config_map("bench").items
    (job,) = batch.list_namespaced_job("bench").items
    assert cm.metadata.owner_references[0].uid == job.metadata.uid
    assert fake.objects()["peer"] == {"jobs": 1, "pods": 1, "configmaps": 1,
                                      "pods_running": 0}

    # What the Job's ttlSecondsAfterFinished does 10 minutes later: the Job
    # goes with its pod, and the garbage collector takes the ConfigMap.
    batch.delete_namespaced_job(job.metadata.name, "bench",
                                propagation_policy="Background")
    deadline = time.time() + 10
    while any(fake.objects()["peer"].values()) and time.time() < deadline:
        time.sleep(0.1)
    assert not any(fake.objects()["peer"].values())
