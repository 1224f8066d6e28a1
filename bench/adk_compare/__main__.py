"""Side-by-side benchmark: ADK's GkeCodeExecutor (job mode) vs code-executor
(--backend=kubernetes, through its Python client), against the same API
server. Run it through bench/compare-adk; `--help` lists the knobs.

  python -m adk_compare --server build/server/code_executor_server \
      --fake build/tests/fake_kube/fake_kube_apiserver --out docs/benchmarks
"""

import argparse
import json
import os
import shlex
import sys
import tempfile

from . import report
from .apiserver import FakeApiServer, RealApiServer
from .runner import Runner


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="bench/compare-adk",
                                     description=__doc__)
    parser.add_argument("--server", dest="server_binary")
    parser.add_argument("--fake", dest="fake_binary")
    parser.add_argument("--out", default="docs/benchmarks",
                        help="writes OUT.md and OUT.json")
    parser.add_argument("--apis", default="fake,real",
                        help="fake, real (real only with $E2E_ENV_FILE)")
    parser.add_argument("--namespace", default="agent-sandbox",
                        help="namespace on the fake (the real cluster's "
                             "comes from E2E_NAMESPACE)")
    parser.add_argument("--rounds", type=int, default=2,
                        help="A B rounds of each workload")
    parser.add_argument("--latency-runs", type=int, default=12,
                        help="sequential print(1) runs per side per round")
    parser.add_argument("--inflight", default="1,8,32,64")
    parser.add_argument("--throughput-min", type=int, default=24,
                        help="executions per round: max(this, 3 x inflight)")
    parser.add_argument("--ttfb-runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=64,
                        help="our server's --workers (its default is 4)")
    parser.add_argument("--ours-set", action="append", default=[],
                        help="extra --set KEY=VALUE for our server")
    parser.add_argument("--no-unthrottled", action="store_true",
                        help="skip the throughput runs of our server with "
                             "its client-side QPS limit lifted")
    parser.add_argument("--warm-pool", type=int, default=4,
                        help="our warm side's kubernetes.warmPool.size in the "
                             "latency and ttfb workloads (0: no warm side)")
    parser.add_argument("--no-agent-sandbox", action="store_true",
                        help="leave out agent-sandbox's warm pool even where "
                             "the cluster has it")
    parser.add_argument("--workloads", default="latency,throughput,ttfb,timeout")
    parser.add_argument("--command", default=None,
                        help="the command line to record in the report")
    parser.add_argument("--render-only", action="store_true",
                        help="rewrite OUT.md from OUT.json; run nothing")
    options = parser.parse_args(argv)
    if not options.render_only and not (options.server_binary and
                                        options.fake_binary):
        parser.error("--server and --fake are required")
    return options


def quote(arg):
    """Shell quoting that keeps newlines visible: $'a\\nb'."""
    if "\n" not in arg:
        return shlex.quote(arg)
    escaped = arg.replace("\\", "\\\\").replace("'", "\\'")
    return "$'" + escaped.replace("\n", "\\n") + "'"


def run_api(runner, api_factory, options):
    """Every workload against one kind of API server; returns summaries."""
    workloads = options.workloads.split(",")
    results = {"api_commands": {}}
    ours = ["ours"] + (["ours-warm"] if options.warm_pool > 0 else [])
    # kubernetes-sigs/agent-sandbox's warm pool, where the cluster has it.
    peers = ["peer"] + (["agent-sandbox"]
                        if getattr(api_factory, "agent_sandbox", False) else [])

    def start(mode):
        api = api_factory(mode)
        results["api_commands"][mode] = " ".join(quote(a) for a in api.command)
        if "agent-sandbox" in peers:
            results["agent_sandbox"] = {
                key: api.agent_sandbox[key] for key in ("version", "pool_size")}
        return api

    if "latency" in workloads or "throughput" in workloads:
        api = start("instant")
        try:
            if "latency" in workloads:
                records = runner.alternate(
                    api, peers + ours, options.rounds, workload="latency",
                    executions=options.latency_runs)
                results["latency"] = report.summarize_runs(records)
            if "throughput" in workloads:
                sides = peers + ["ours"]
                if not options.no_unthrottled:
                    sides.append("ours-unthrottled")
                results["throughput"] = {}
                for inflight in [int(n) for n in options.inflight.split(",")]:
                    records = runner.alternate(
                        api, sides, options.rounds, workload="throughput",
                        inflight=inflight,
                        executions=max(options.throughput_min, 3 * inflight))
                    results["throughput"][str(inflight)] = (
                        report.summarize_runs(records))
        finally:
            api.stop()
    if "ttfb" in workloads:
        api = start("ttfb")
        try:
            records = runner.alternate(api, peers + ours, options.rounds,
                                       workload="ttfb",
                                       executions=options.ttfb_runs)
            results["ttfb"] = report.summarize_runs(records)
        finally:
            api.stop()
    if "timeout" in workloads:
        api = start("timeout")
        try:
            records = runner.alternate(api, ["peer", "ours"], 1,
                                       workload="timeout", executions=1,
                                       timeout=5, settle=10.0)
            results["timeout"] = report.summarize_runs(records)
        finally:
            api.stop()
    return results


def write_markdown(document, out):
    with open(out + ".md", "w") as f:
        f.write(report.markdown(document, os.path.basename(out) + ".json"))


def main(argv=None):
    options = parse_args(argv if argv is not None else sys.argv[1:])
    if options.render_only:
        with open(options.out + ".json") as f:
            write_markdown(json.load(f), options.out)
        print(f"wrote {options.out}.md", flush=True)
        return
    log_dir = tempfile.mkdtemp(prefix="adk-compare-logs-")
    print(f"worker and server logs: {log_dir}", flush=True)
    runner = Runner(options, log_dir)
    options.load_before = report.load_average()
    results = {}
    apis = options.apis.split(",")
    if "fake" in apis:
        print("API server: fake (instant kubelet)", flush=True)
        results["fake"] = run_api(
            runner,
            lambda mode: FakeApiServer(options.fake_binary, mode,
                                       options.namespace),
            options)
    env_file = os.environ.get("E2E_ENV_FILE")
    if "real" in apis and env_file:
        print(f"API server: real cluster ({env_file})", flush=True)
        def real(mode):
            return RealApiServer(env_file)

        real.agent_sandbox = (RealApiServer(env_file).agent_sandbox is not None
                              and not options.no_agent_sandbox)
        print("  agent-sandbox: " + ("measured" if real.agent_sandbox else
                                     "not measured (scripts/e2e-cluster up "
                                     "--with-agent-sandbox installs it)"),
              flush=True)
        results["real"] = run_api(runner, real, options)
    elif "real" in apis:
        print("API server: real skipped (E2E_ENV_FILE is not set)", flush=True)
    options.load_after = report.load_average()
    document = report.build(results, options)
    with open(options.out + ".json", "w") as f:
        json.dump(document, f, indent=1, sort_keys=True)
        f.write("\n")
    write_markdown(document, options.out)
    print(f"wrote {options.out}.md and {options.out}.json", flush=True)


if __name__ == "__main__":
    main()
