"""The workloads, side by side: each one runs for the peer and for ours in
alternation (A B A B ...), each run with a fresh worker process (and, for
ours, a fresh server), API counters reset after the warm-up, and the
namespace inspected 5 s after the workload and cleaned before the next."""

import os
import time

from .apiserver import PRINT_1_LOG, TTFB_FINAL_LOG, TTFB_FIRST_LOG
from .sides import OurServer, Worker

UNTHROTTLED = ("kubernetes.qps=100000", "kubernetes.burst=100000")


def warm_pool_sets(size):
    """Our server's settings for the side "ours-warm"."""
    return (f"kubernetes.warmPool.size={size}",
            f"kubernetes.warmPool.maxStarting={size}")
TTFB_CODE_STDOUT = "a\nb\n"


class Runner:
    def __init__(self, options, log_dir):
        self.options = options
        self.log_dir = log_dir
        os.makedirs(log_dir, exist_ok=True)

    def expected_stdout(self, api, side, workload):
        """What a correct run prints: on the fake, the peer returns the
        canned pod log verbatim while ours decodes its framing."""
        if workload == "timeout":
            return None
        if workload == "ttfb":
            if api.name == "fake" and side == "peer":
                return TTFB_FIRST_LOG + TTFB_FINAL_LOG
            return TTFB_CODE_STDOUT
        if api.name == "fake" and side == "peer":
            return PRINT_1_LOG
        return "1\n"

    def run_once(self, api, side, workload, executions, inflight=1,
                 timeout=300, settle=5.0):
        """One workload for one side; returns its record."""
        server = None
        if side != "peer":
            extra = list(self.options.ours_set)
            if side == "ours-unthrottled":
                extra += UNTHROTTLED
            if side == "ours-warm":
                extra += warm_pool_sets(self.options.warm_pool)
                if hasattr(api, "set_warm_pool_rbac"):
                    api.set_warm_pool_rbac(self.options.warm_pool)
            server = OurServer(self.options.server_binary, api,
                               workers=self.options.workers, extra_sets=extra)
        args = ["--side", side if side in ("peer", "agent-sandbox") else "ours",
                "--namespace", api.namespace, "--workload", workload,
                "--executions", str(executions), "--inflight", str(inflight),
                "--timeout", str(timeout)]
        if side == "peer":
            args += ["--kubeconfig", api.peer_kubeconfig]
        elif side == "agent-sandbox":
            peer = api.agent_sandbox
            args += ["--kubeconfig", peer["kubeconfig"],
                     "--router-url", peer["router_url"],
                     "--warm-pool", peer["warm_pool"]]
        else:
            args += ["--target", server.target]
        if workload == "timeout":
            # A warm-up would itself run into the 600 s program's timeout.
            args += ["--no-warmup"]
        expect = self.expected_stdout(api, side, workload)
        if expect is not None:
            args += ["--expect-stdout", expect]
        log = os.path.join(self.log_dir, f"{api.name}-{workload}-{side}.log")
        worker = Worker(args, log)
        try:
            ready = worker.ready()
            if side == "ours-warm":
                # The warm-up claimed a pod: start with the pool full.
                server.wait_pool_idle(self.options.warm_pool)
            if side == "agent-sandbox":
                api.wait_agent_sandbox_pool()
            start = api.begin_window()
            result = worker.go()
            end = time.time()
            record = {"side": side, "workload": workload, "inflight": inflight,
                      "executions": executions, "ready": ready,
                      "result": result, "client_hwm_kb": result["hwm_kb"],
                      "client_ready_rss_kb": ready["rss_kb"]}
            if server is not None:
                record["server_hwm_kb"] = server.hwm_kb()
                record["server_rss_kb"] = server.rss_kb()
            if side == "agent-sandbox":
                # Its controller runs for the cluster's life: its peak is
                # since the cluster came up, not this workload's alone.
                (record["server_hwm_kb"],
                 record["server_rss_kb"]) = api.agent_sandbox_controller_kb()
        finally:
            worker.close()
        time.sleep(settle)
        # Counts first: the inspection below makes requests of its own.
        counts, watches, raw = api.requests(side, start, time.time())
        record["left_after_s"] = settle
        if side == "agent-sandbox":
            record["left"] = api.agent_sandbox_objects()
        else:
            record["left"] = api.objects()[
                "peer" if side == "peer" else "ours"]
        record["requests"] = counts
        record["watches_opened"] = watches
        record["api_raw"] = {k: v for k, v in raw.items()
                             if k in ("response_codes", "patch_content_types",
                                      "audit_events", "garbage_collected")}
        if server is not None:
            server.stop()
            # A stopped server deletes its warm pool.
            record["pool_left_after_stop"] = api.objects()["pool"]
            if side == "ours-warm" and hasattr(api, "set_warm_pool_rbac"):
                api.set_warm_pool_rbac(0)
        if side == "agent-sandbox":
            api.clean_up_agent_sandbox()
        api.clean_up()
        return record

    def alternate(self, api, sides, rounds, **kwargs):
        """`rounds` x (each side once), alternating; records by side."""
        records = {side: [] for side in sides}
        for number in range(rounds):
            for side in sides:
                print(f"  [{api.name}] {kwargs['workload']} "
                      f"inflight={kwargs.get('inflight', 1)} {side} "
                      f"round {number + 1}/{rounds}", flush=True)
                records[side].append(self.run_once(api, side, **kwargs))
        return records
