"""Running one side of the comparison: our server process (per workload, so
its peak memory belongs to that workload) and the worker process that drives
either side (worker.py)."""

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

from .worker import proc_status_kb

# Limits both sides run with (ADK's GkeCodeExecutor defaults).
LIMITS = {"cpuRequested": "200m", "cpuLimit": "500m",
          "memoryRequested": "256Mi", "memoryLimit": "512Mi"}


class OurServer:
    """code_executor_server --backend=kubernetes against `api`."""

    def __init__(self, binary, api, workers=64, extra_sets=()):
        self.dir = tempfile.mkdtemp(prefix="adk-compare-server-")
        sets = [f"kubernetes.kubeconfigPath={api.executor_kubeconfig}",
                f"kubernetes.namespace={api.namespace}",
                "kubernetes.defaultImage=python:3.11-slim"]
        sets += [f"limits.defaults.{key}={value}" for key, value in LIMITS.items()]
        sets += list(extra_sets)
        self.command = [binary, "--backend=kubernetes",
                        "--listen_address=127.0.0.1:0",
                        "--metrics_address=127.0.0.1:0",
                        f"--ports_file={self.dir}/ports.json",
                        f"--workers={workers}", f"--queue_size={4 * workers}"]
        for value in sets:
            self.command += ["--set", value]
        self.log = open(f"{self.dir}/server.log", "w")
        self.process = subprocess.Popen(self.command, stdout=self.log,
                                        stderr=self.log)
        ports = f"{self.dir}/ports.json"
        for _ in range(400):
            if os.path.exists(ports) and os.path.getsize(ports) > 0:
                break
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited; see {self.dir}/server.log")
            time.sleep(0.05)
        with open(ports) as f:
            ports = json.load(f)
        self.target = f"127.0.0.1:{ports['grpc']}"
        self.metrics_url = f"http://127.0.0.1:{ports['metrics']}/metrics"

    def metric(self, sample):
        """The value of one sample line of /metrics (0 when absent)."""
        with urllib.request.urlopen(self.metrics_url, timeout=10) as page:
            for line in page.read().decode().splitlines():
                name, _, value = line.rpartition(" ")
                if name == sample:
                    return float(value)
        return 0.0

    def wait_pool_idle(self, size, timeout=180):
        """Until the kubernetes warm pool holds `size` ready pods."""
        sample = 'codeexec_warm_pool_idle{backend="kubernetes"}'
        deadline = time.time() + timeout
        while self.metric(sample) < size:
            if time.time() > deadline:
                raise RuntimeError(f"the warm pool did not fill in {timeout}s; "
                                   f"see {self.dir}/server.log")
            time.sleep(0.1)

    def hwm_kb(self):
        return proc_status_kb("VmHWM", self.process.pid)

    def rss_kb(self):
        return proc_status_kb("VmRSS", self.process.pid)

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


class Worker:
    """worker.py in a subprocess: warm-up, then one workload on "go"."""

    def __init__(self, args, log_path):
        here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env = dict(os.environ, PYTHONPATH=here + os.pathsep +
                   os.environ.get("PYTHONPATH", ""))
        self.command = [sys.executable, "-m", "adk_compare.worker"] + args
        self.log = open(log_path, "a")
        self.process = subprocess.Popen(
            self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self.log, text=True, env=env)

    def _read(self, event):
        line = self.process.stdout.readline()
        if not line:
            self.process.wait()
            raise RuntimeError(
                f"worker exited ({self.process.returncode}) before "
                f"{event!r}; see {self.log.name}")
        message = json.loads(line)
        if message.get("event") != event:
            raise RuntimeError(f"expected {event!r} from the worker: {line}")
        return message

    def ready(self):
        return self._read("ready")

    def go(self):
        self.process.stdin.write("go\n")
        self.process.stdin.flush()
        return self._read("result")

    def close(self):
        try:
            self.process.stdin.close()
        except OSError:
            pass
        self.process.wait(timeout=60)
        self.log.close()
