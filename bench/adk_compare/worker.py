"""One side of the comparison in its own process, so that its peak memory
(VmHWM) is its own: ADK's GkeCodeExecutor ("peer"), agent-sandbox's warm pool
through its SDK ("agent-sandbox") or code-executor's Python client ("ours").

Protocol on stdin/stdout (JSON lines): after one warm-up execution of
print(1) (unless --no-warmup) the worker prints {"event": "ready", ...} and
waits for a line "go"; then it runs the workload and prints
{"event": "result", ...}. The orchestrator resets the API server's counters
between the two, so the warm-up is not counted.

  python -m adk_compare.worker --side peer --kubeconfig K --namespace NS \
      --workload throughput --inflight 8 --executions 24 --expect-stdout '1\n'
"""

import argparse
import asyncio
import concurrent.futures
import dataclasses
import json
import logging
import sys
import time
import types

PRINT_1 = "print(1)"


def proc_status_kb(field, pid="self"):
    """A "VmHWM:"-style line of /proc/<pid>/status, in kB (None if absent)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def emit(**fields):
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


class PeerSide:
    """ADK's GkeCodeExecutor in job mode, called as ADK calls it: the
    blocking execute_code() in a worker thread (asyncio.to_thread)."""

    def __init__(self, args):
        from google.adk.code_executors.gke_code_executor import GkeCodeExecutor

        self.executor = GkeCodeExecutor(
            kubeconfig_path=args.kubeconfig,
            namespace=args.namespace,
            image="python:3.11-slim",
            timeout_seconds=args.timeout,
            cpu_requested="200m",
            cpu_limit="500m",
            mem_requested="256Mi",
            mem_limit="512Mi",
        )

    def run_blocking(self, code):
        from google.adk.code_executors.code_execution_utils import (
            CodeExecutionInput,
        )

        # execute_code() reads only `invocation_context.invocation_id` (the
        # Job's adk.agent.google.com/invocation-id annotation), so a minimal
        # stand-in replaces a real InvocationContext (which needs a session,
        # an agent and services that play no part in the execution).
        context = types.SimpleNamespace(invocation_id="bench-invocation")
        result = self.executor.execute_code(context, CodeExecutionInput(code=code))
        return {
            "stdout": result.stdout,
            "stderr": result.stderr,
            "exit_code": result.exit_code,
        }

    async def run(self, code, first_byte=None):
        # The peer hands back nothing before the run ends: its first byte is
        # its result.
        out = await asyncio.to_thread(self.run_blocking, code)
        if first_byte is not None:
            first_byte.append(time.monotonic())
        return out

    async def close(self):
        pass


class AgentSandboxSide:
    """kubernetes-sigs/agent-sandbox's warm pool through its Python SDK
    (k8s-agent-sandbox), driven the way ADK's
    GkeCodeExecutor(executor_type="sandbox") means to: claim a sandbox from
    the warm pool, write the code to script.py, run `python3 script.py`,
    release the claim. ADK itself cannot be used: its sandbox mode calls
    SandboxClient(template_name=..., gateway_name=...) and sandbox.write/run,
    the SDK's API before 1.0, which the released SDK no longer has. Requests
    go to the sandbox-router at --router-url with the pod's IP, as the SDK's
    SandboxDirectConnectionConfig sends them."""

    def __init__(self, args):
        from k8s_agent_sandbox import SandboxClient
        from k8s_agent_sandbox.models import SandboxDirectConnectionConfig
        from kubernetes import config

        self.namespace = args.namespace
        self.warm_pool = args.warm_pool
        self.timeout = args.timeout
        self.client = SandboxClient(
            connection_config=SandboxDirectConnectionConfig(
                api_url=args.router_url),
            api_client=config.new_client_from_config(
                config_file=args.kubeconfig))

    def run_blocking(self, code):
        sandbox = self.client.create_sandbox(warmpool=self.warm_pool,
                                             namespace=self.namespace)
        try:
            sandbox.files.write("script.py", code)
            result = sandbox.commands.run("python3 script.py",
                                          timeout=self.timeout)
            return {"stdout": result.stdout, "stderr": result.stderr,
                    "exit_code": result.exit_code}
        finally:
            self.client.delete_sandbox(sandbox.claim_name, self.namespace)

    async def run(self, code, first_byte=None):
        # Like ADK's executors, the SDK hands back nothing before the
        # command ends: its first byte is its result.
        out = await asyncio.to_thread(self.run_blocking, code)
        if first_byte is not None:
            first_byte.append(time.monotonic())
        return out

    async def close(self):
        pass


class OursSide:
    """code-executor through its asyncio client (one channel, N calls)."""

    def __init__(self, args):
        from code_executor import AsyncCodeExecutorClient

        self.client = AsyncCodeExecutorClient(args.target)
        self.timeout = args.timeout

    async def run(self, code, first_byte=None):
        from code_executor import Finished, Stderr, Stdout

        out = {"stdout": "", "stderr": "", "exit_code": None}
        stream = self.client.stream(code, timeout_seconds=self.timeout)
        async for event in stream:
            if isinstance(event, (Stdout, Stderr)):
                if first_byte is not None and not first_byte:
                    first_byte.append(time.monotonic())
                out[event.stream] += event.text
            elif isinstance(event, Finished):
                out["exit_code"] = event.exit_code
                out["outcome"] = event.outcome.value
                out["message"] = event.message
                out["timings"] = dataclasses.asdict(event.timings)
        return out

    async def close(self):
        await self.client.close()


async def timed(side, code, expect_stdout, first_byte_wanted=False):
    first_byte = [] if first_byte_wanted else None
    start = time.monotonic()
    error = None
    try:
        out = await side.run(code, first_byte)
        if out.get("exit_code") != 0 or (
            expect_stdout is not None and out["stdout"] != expect_stdout
        ):
            error = json.dumps(out)[:300]
    except Exception as e:  # noqa: BLE001 - counted, reported
        out = {}
        error = f"{type(e).__name__}: {e}"[:300]
    end = time.monotonic()
    record = {"seconds": end - start, "error": error}
    if first_byte:
        record["first_byte_seconds"] = first_byte[0] - start
    if out:
        record["stdout_head"] = out.get("stdout", "")[:80]
        record["stderr_head"] = out.get("stderr", "")[:200]
        record["outcome"] = out.get("outcome")
        if out.get("timings"):
            record["timings"] = out["timings"]
    return record


async def run_workload(side, args):
    expect = args.expect_stdout
    if args.workload == "latency":
        runs = [await timed(side, PRINT_1, expect) for _ in range(args.executions)]
        return {"runs": runs}
    if args.workload == "throughput":
        queue = list(range(args.executions))
        runs = []

        async def lane():
            while queue:
                queue.pop()
                runs.append(await timed(side, PRINT_1, expect))

        start = time.monotonic()
        await asyncio.gather(*(lane() for _ in range(args.inflight)))
        elapsed = time.monotonic() - start
        return {"runs": runs, "elapsed_seconds": elapsed}
    if args.workload == "ttfb":
        code = "import time\nprint('a', flush=True)\ntime.sleep(2)\nprint('b')"
        runs = [
            await timed(side, code, args.expect_stdout, first_byte_wanted=True)
            for _ in range(args.executions)
        ]
        return {"runs": runs}
    if args.workload == "timeout":
        record = await timed(side, "import time\ntime.sleep(600)", None)
        return {"runs": [record]}
    raise SystemExit(f"unknown workload {args.workload}")


async def main_async(args):
    # ADK runs execute_code via asyncio.to_thread, whose default executor has
    # min(32, cpus + 4) threads; size it to the calls in flight so the peer
    # really has that many executions going (ADK's default would queue them).
    loop = asyncio.get_running_loop()
    loop.set_default_executor(
        concurrent.futures.ThreadPoolExecutor(max_workers=max(args.inflight, 1))
    )
    side = {"peer": PeerSide, "agent-sandbox": AgentSandboxSide,
            "ours": OursSide}[args.side](args)
    warm = None if args.no_warmup else await timed(side, PRINT_1, None)
    emit(
        event="ready",
        warmup=warm,
        rss_kb=proc_status_kb("VmRSS"),
        hwm_kb=proc_status_kb("VmHWM"),
    )
    if sys.stdin.readline().strip() != "go":
        return
    start = time.time()
    result = await run_workload(side, args)
    result.update(
        event="result",
        start_time=start,
        end_time=time.time(),
        rss_kb=proc_status_kb("VmRSS"),
        hwm_kb=proc_status_kb("VmHWM"),
    )
    await side.close()
    emit(**result)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--side", choices=["peer", "agent-sandbox", "ours"],
                        required=True)
    parser.add_argument("--kubeconfig",
                        help="peer, agent-sandbox: its kubeconfig")
    parser.add_argument("--router-url",
                        help="agent-sandbox: the sandbox-router's URL")
    parser.add_argument("--warm-pool", default="python-sandbox-pool",
                        help="agent-sandbox: the SandboxWarmPool to claim from")
    parser.add_argument("--namespace", default="agent-sandbox")
    parser.add_argument("--target", help="ours: the server's host:port")
    parser.add_argument(
        "--workload",
        choices=["latency", "throughput", "ttfb", "timeout"],
        required=True,
    )
    parser.add_argument("--executions", type=int, default=20)
    parser.add_argument("--inflight", type=int, default=1)
    parser.add_argument("--timeout", type=int, default=300)
    parser.add_argument("--expect-stdout", default=None)
    parser.add_argument("--no-warmup", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
