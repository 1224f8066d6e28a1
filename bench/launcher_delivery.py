"""How the static launcher gets into a sandbox pod, measured on the e2e cluster.

Two ways, alternating, side by side in one run (issue: "choose by measurement"):

  per-run      what the kubernetes backend does: every run's ConfigMap holds the
               launcher and the request as binaryData, one volume.
  per-replica  a ConfigMap holding only the launcher, created once; each run's
               ConfigMap holds only the request; two volumes.

Each run creates its ConfigMap(s) and a bare pod under RuntimeClass gvisor
running the launcher (on a request it refuses: the launcher's own start is
not what differs), and measures, on this client's clock, the POSTs and the
time until the pod's container has started. Reports medians and the bytes
each way sends to the API server per run. Everything is deleted afterwards.

  scripts/e2e-cluster up
  build/venv/bin/python bench/launcher_delivery.py [--runs 10]
"""

import argparse
import base64
import json
import os
import statistics
import subprocess
import time
import uuid

from kubernetes import client, config, watch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAMESPACE = "default"
IMAGE = "python:3.11-slim"


def cluster_env():
    text = subprocess.run(
        [os.path.join(ROOT, "scripts/e2e-cluster"), "env"],
        check=True, capture_output=True, text=True).stdout
    env = {}
    for line in text.splitlines():
        line = line.removeprefix("export ")
        if "=" in line:
            key, value = line.split("=", 1)
            env[key] = value.strip("'\"")
    return env


def config_map(name, data):
    return client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name=name, labels={"bench": "launcher"}),
        immutable=True,
        binary_data={k: base64.b64encode(v).decode() for k, v in data.items()})


def volume(name, config_map_name, items):
    return client.V1Volume(
        name=name,
        config_map=client.V1ConfigMapVolumeSource(
            name=config_map_name,
            items=[client.V1KeyToPath(key=k, path=k, mode=m)
                   for k, m in items]))


def pod(name, volumes, mounts, command):
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, labels={"bench": "launcher"}),
        spec=client.V1PodSpec(
            runtime_class_name="gvisor",
            restart_policy="Never",
            automount_service_account_token=False,
            enable_service_links=False,
            volumes=volumes,
            containers=[client.V1Container(
                name="sandbox", image=IMAGE, image_pull_policy="IfNotPresent",
                command=command, volume_mounts=mounts)]))


def container_started(p):
    statuses = (p.status and p.status.container_statuses) or []
    for s in statuses:
        if s.state and (s.state.running or s.state.terminated):
            return True
    return False


def wait_started(core, name, deadline_s=60):
    w = watch.Watch()
    for event in w.stream(core.list_namespaced_pod, NAMESPACE,
                          field_selector=f"metadata.name={name}",
                          timeout_seconds=deadline_s):
        if container_started(event["object"]):
            w.stop()
            return time.monotonic()
    raise RuntimeError(f"pod {name} did not start")


def body_bytes(api, obj):
    return len(json.dumps(api.sanitize_for_serialization(obj)).encode())


def run_once(core, api, way, launcher, request, shared_name):
    run = f"bench-{way}-{uuid.uuid4().hex[:8]}"
    start = time.monotonic()
    if way == "per-run":
        cm = config_map(run, {"launcher": launcher, "request": request})
        volumes = [volume("bundle", run, [("launcher", 0o555),
                                          ("request", 0o444)])]
        mounts = [client.V1VolumeMount(name="bundle",
                                       mount_path="/opt/code-executor",
                                       read_only=True)]
        command = ["/opt/code-executor/launcher",
                   "/opt/code-executor/request"]
    else:
        cm = config_map(run, {"request": request})
        volumes = [volume("launcher", shared_name, [("launcher", 0o555)]),
                   volume("request", run, [("request", 0o444)])]
        mounts = [client.V1VolumeMount(name="launcher",
                                       mount_path="/opt/code-executor/bin",
                                       read_only=True),
                  client.V1VolumeMount(name="request",
                                       mount_path="/opt/code-executor/run",
                                       read_only=True)]
        command = ["/opt/code-executor/bin/launcher",
                   "/opt/code-executor/run/request"]
    p = pod(run, volumes, mounts, command)
    sent = body_bytes(api, cm) + body_bytes(api, p)
    core.create_namespaced_config_map(NAMESPACE, cm)
    core.create_namespaced_pod(NAMESPACE, p)
    posted = time.monotonic()
    started = wait_started(core, run)
    core.delete_namespaced_pod(run, NAMESPACE, grace_period_seconds=0)
    core.delete_namespaced_config_map(run, NAMESPACE)
    return {"create": posted - start, "started": started - start,
            "bytes": sent}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    env = cluster_env()
    config.load_kube_config(env["E2E_ADMIN_KUBECONFIG"])
    core = client.CoreV1Api()
    api = client.ApiClient()
    launcher = open(os.path.join(ROOT, "build/server/launcher/launcher"),
                    "rb").read()
    request = os.urandom(300)  # refused: exit 125 at once
    shared = f"bench-launcher-{uuid.uuid4().hex[:8]}"
    core.create_namespaced_config_map(
        NAMESPACE, config_map(shared, {"launcher": launcher}))
    results = {"per-run": [], "per-replica": []}
    try:
        for i in range(args.runs + 1):  # the first round warms up
            ways = ["per-run", "per-replica"]
            if i % 2:
                ways.reverse()
            for way in ways:
                r = run_once(core, api, way, launcher, request, shared)
                if i > 0:
                    results[way].append(r)
    finally:
        core.delete_namespaced_config_map(shared, NAMESPACE)
        core.delete_collection_namespaced_pod(
            NAMESPACE, label_selector="bench=launcher",
            grace_period_seconds=0)
    print(f"launcher {len(launcher)} bytes; {args.runs} runs each, "
          "alternating; median (client clock):")
    for way, runs in results.items():
        print(f"  {way:12} POSTs {statistics.median(r['create'] for r in runs):.3f} s"
              f"  container started {statistics.median(r['started'] for r in runs):.3f} s"
              f"  bytes sent per run {runs[0]['bytes']}")
    print(f"  per-replica also sends {body_bytes(api, config_map(shared, {'launcher': launcher}))}"
          " bytes once per replica")


if __name__ == "__main__":
    main()
