"""Summaries of the runs and the report (docs/benchmarks.md + .json)."""

import collections
import datetime
import importlib.metadata
import math
import os
import platform
import statistics

SIDE_NAMES = {
    "peer": "ADK GkeCodeExecutor",
    "agent-sandbox": "agent-sandbox warm pool (its SDK)",
    "ours": "code-executor",
    "ours-warm": "code-executor, warm pool",
    "ours-unthrottled": "code-executor, QPS limit lifted",
}
KINDS = ("jobs", "pods", "configmaps")


def percentile(values, fraction):
    """Nearest-rank percentile (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def spread(values):
    if not values:
        return None
    return {"n": len(values), "median": statistics.median(values),
            "p95": percentile(values, 0.95), "mean": statistics.fmean(values),
            "min": min(values), "max": max(values)}


def summarize_side(records):
    runs = [run for rec in records for run in rec["result"]["runs"]]
    executions = sum(rec["executions"] for rec in records)
    errors = [run["error"] for run in runs if run["error"]]
    requests = collections.Counter()
    for rec in records:
        requests.update(rec["requests"])
    summary = {
        "executions": executions,
        "errors": len(errors),
        "error_samples": errors[:3],
        "seconds": spread([run["seconds"] for run in runs]),
        "requests_per_execution": {
            key: count / executions for key, count in sorted(requests.items())},
        "requests_per_execution_total": sum(requests.values()) / executions,
        "watches_per_execution":
            sum(rec["watches_opened"] for rec in records) / executions,
        "left": {kind: max(rec["left"].get(kind, 0) for rec in records)
                 for kind in sorted({k for rec in records for k in rec["left"]})},
        "left_after_seconds": records[0]["left_after_s"],
        "client_hwm_kb": max(rec["client_hwm_kb"] for rec in records),
        "client_ready_rss_kb": max(rec["client_ready_rss_kb"] for rec in records),
        "api": [rec["api_raw"] for rec in records],
        "rounds": [],
    }
    if any("pool_left_after_stop" in rec for rec in records):
        summary["pool_left_after_stop"] = {
            kind: max(rec.get("pool_left_after_stop", {}).get(kind, 0)
                      for rec in records) for kind in KINDS}
    if any("server_hwm_kb" in rec for rec in records):
        summary["server_hwm_kb"] = max(rec["server_hwm_kb"] for rec in records)
    for rec in records:
        result = rec["result"]
        round_summary = {"executions": rec["executions"],
                         "errors": sum(1 for r in result["runs"] if r["error"])}
        if "elapsed_seconds" in result:
            round_summary["elapsed_seconds"] = result["elapsed_seconds"]
            round_summary["executions_per_second"] = (
                rec["executions"] / result["elapsed_seconds"])
        summary["rounds"].append(round_summary)
    rates = [r["executions_per_second"] for r in summary["rounds"]
             if "executions_per_second" in r]
    if rates:
        summary["executions_per_second"] = statistics.fmean(rates)
    first = [run.get("first_byte_seconds") for run in runs]
    if any(value is not None for value in first):
        summary["first_byte_seconds"] = spread(
            [v for v in first if v is not None])
    phases = collections.defaultdict(list)
    for run in runs:
        for phase, value in (run.get("timings") or {}).items():
            if value is not None:
                phases[phase].append(value)
    if phases:
        summary["server_phase_seconds_median"] = {
            phase: statistics.median(values) for phase, values in phases.items()}
    if records[0]["workload"] == "timeout":
        summary["outcome"] = {key: runs[0].get(key) for key in
                              ("outcome", "stdout_head", "stderr_head")}
    return summary


def summarize_runs(records_by_side):
    return {side: summarize_side(records)
            for side, records in records_by_side.items()}


def _git_rev(root):
    """The checked-out commit, read from .git without running git."""
    try:
        with open(os.path.join(root, ".git", "HEAD")) as f:
            head = f.read().strip()
        if not head.startswith("ref: "):
            return head
        ref = head[5:]
        path = os.path.join(root, ".git", ref)
        if os.path.exists(path):
            with open(path) as f:
                return f.read().strip()
        with open(os.path.join(root, ".git", "packed-refs")) as f:
            for line in f:
                if line.strip().endswith(" " + ref):
                    return line.split()[0]
    except OSError:
        pass
    return "unknown"


def _version(package):
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def load_average():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def _machine():
    model, mem = "?", "?"
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f
                         if line.startswith("model name"))
        with open("/proc/meminfo") as f:
            kb = int(next(line.split()[1] for line in f
                          if line.startswith("MemTotal")))
            mem = f"{kb / 1048576:.1f} GiB"
    except (OSError, StopIteration):
        pass
    return {"cpus": os.cpu_count(), "cpu_model": model, "memory": mem,
            "kernel": platform.release(), "python": platform.python_version()}


def build(results, options):
    root = os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime(
            "%Y-%m-%d %H:%M UTC"),
        "command": options.command or "bench/compare-adk",
        "machine": dict(_machine(), load_average_before=options.load_before,
                        load_average_after=options.load_after),
        "versions": {"google-adk": _version("google-adk"),
                     "kubernetes (Python client)": _version("kubernetes"),
                     "grpcio": _version("grpcio"),
                     "code-executor-client": _version("code-executor-client"),
                     "code-executor git rev": _git_rev(root)},
        "settings": {"rounds": options.rounds,
                     "our server": " ".join(
                         [f"--backend=kubernetes --workers={options.workers}"] +
                         [f"--set {s}" for s in options.ours_set]) +
                         " (limits 200m/500m CPU, 256Mi/512Mi memory, image "
                         "python:3.11-slim; other settings at their defaults, "
                         "e.g. kubernetes.qps 50, burst 100)",
                     "warm pool": getattr(options, "warm_pool", 0),
                     "peer": "GkeCodeExecutor(executor_type='job', "
                             "image='python:3.11-slim', cpu 200m/500m, "
                             "memory 256Mi/512Mi)"},
        "results": results,
    }


def _ms(seconds):
    return "–" if seconds is None else f"{seconds * 1000:.0f} ms"


def _s(seconds):
    return "–" if seconds is None else f"{seconds:.2f} s"


def _mib(kb):
    return "–" if kb is None else f"{kb / 1024:.0f} MiB"


def _table(header, rows):
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _requests_table(by_side):
    by_side = _ordered(by_side)
    keys = sorted({k for s in by_side.values()
                   for k in s["requests_per_execution"]})
    sides = list(by_side)
    rows = [[f"`{k}`"] + [f"{by_side[s]['requests_per_execution'].get(k, 0):.2f}"
                          for s in sides] for k in keys]
    rows.append(["**total**"] + [
        f"**{by_side[s]['requests_per_execution_total']:.2f}**" for s in sides])
    rows.append(["watch connections opened"] + [
        f"{by_side[s]['watches_per_execution']:.2f}" for s in sides])
    return _table(["verb resource (per execution)"] +
                  [SIDE_NAMES[s] for s in sides], rows)


def _ordered(by_side):
    """by_side with its sides in the order of SIDE_NAMES (JSON sorts them)."""
    return {side: by_side[side] for side in SIDE_NAMES if side in by_side}


def _left(summary):
    left = summary["left"]
    return ", ".join(f"{left[k]} {k}" for k in left if k != "pods_running")


def api_section(name, res):
    out = []
    res = dict(res)
    for workload in ("latency", "ttfb", "timeout"):
        if workload in res:
            res[workload] = _ordered(res[workload])
    if "throughput" in res:
        res["throughput"] = {
            n: _ordered(v) for n, v in
            sorted(res["throughput"].items(), key=lambda kv: int(kv[0]))}
    if "latency" in res:
        lat = res["latency"]
        out.append("### print(1), one at a time\n\n")
        out.append(_table(["", "runs", "median", "p95", "errors"], [
            [SIDE_NAMES[s], v["executions"], _ms(v["seconds"]["median"]),
             _ms(v["seconds"]["p95"]), v["errors"]] for s, v in lat.items()]))
        phases = lat.get("ours", {}).get("server_phase_seconds_median")
        if phases:
            order = ("queue", "create", "schedule", "start", "run",
                     "cleanup", "total")
            out.append("\ncode-executor's own phase timings (median, from "
                       "its `finished` message): " + ", ".join(
                           f"{k} {_ms(phases[k])}" for k in order
                           if k in phases) + ".\n")
        out.append("\n#### Kubernetes API requests per execution "
                   "(sequential print(1))\n\n")
        out.append(_requests_table(lat))
    if "throughput" in res:
        thr = res["throughput"]
        sides = list(next(iter(thr.values())))
        out.append("\n### Throughput: print(1) with N calls in flight\n\n")
        out.append(_table(
            ["in flight"] + [f"{SIDE_NAMES[s]}: exec/s (errors)" for s in sides],
            [[n] + [f"{v[s]['executions_per_second']:.1f} ({v[s]['errors']}"
                    f"/{v[s]['executions']})" for s in sides]
             for n, v in thr.items()]))
        out.append(
            "\ncode-executor's API client has a client-side rate limit "
            "(`kubernetes.qps` 200, `burst` 400 by default), so once a fresh "
            "server's burst is spent it makes at most ~200 / 5 = 40 "
            "executions/s per replica; smaller rounds run mostly on the "
            "burst. The third column lifts the limit (`--set "
            "kubernetes.qps=100000 --set kubernetes.burst=100000`). ADK's "
            "Python client has no such limit. Every error's message is in "
            "benchmarks.json (`error_samples`).\n")
        top = thr[max(thr, key=int)]
        out.append(f"\n#### API requests per execution at {max(thr, key=int)} "
                   "in flight\n\n")
        out.append(_requests_table(top))
        out.append(f"\n#### Peak memory (VmHWM) at {max(thr, key=int)} in "
                   "flight\n\n")
        rows = [["ADK GkeCodeExecutor: the Python process running it",
                 _mib(top["peer"]["client_hwm_kb"]),
                 _mib(top["peer"]["client_ready_rss_kb"])]]
        if "agent-sandbox" in top:
            peer = top["agent-sandbox"]
            rows.append(["agent-sandbox: the Python process running its SDK",
                         _mib(peer["client_hwm_kb"]),
                         _mib(peer["client_ready_rss_kb"])])
            rows.append(["agent-sandbox: its controller (peak since the "
                         "cluster came up)", _mib(peer.get("server_hwm_kb")),
                         "–"])
        for side in [s for s in sides if s not in ("peer", "agent-sandbox")]:
            rows.append([f"{SIDE_NAMES[side]}: server process",
                         _mib(top[side].get("server_hwm_kb")), "–"])
            rows.append([f"{SIDE_NAMES[side]}: client process (Python, "
                         "grpc.aio)", _mib(top[side]["client_hwm_kb"]),
                         _mib(top[side]["client_ready_rss_kb"])])
        out.append(_table(["process", "peak RSS (VmHWM)",
                           "RSS after warm-up"], rows))
    if "ttfb" in res:
        out.append("\n### Time to first output byte: "
                   "`print('a', flush=True); time.sleep(2); print('b')`\n\n")
        out.append(_table(["", "runs", "first byte (median)",
                           "whole result (median)", "errors"], [
            [SIDE_NAMES[s], v["executions"],
             _s((v.get("first_byte_seconds") or {}).get("median")),
             _s(v["seconds"]["median"]), v["errors"]]
            for s, v in res["ttfb"].items()]))
    if "timeout" in res:
        out.append("\n### Timeout: `time.sleep(600)` with a 5 s timeout\n\n")
        rows = []
        for s, v in res["timeout"].items():
            got = v["outcome"]
            said = got.get("outcome") or (got.get("stderr_head") or "")
            said = said.splitlines()[0] if said else "(empty)"
            rows.append([SIDE_NAMES[s], _s(v["seconds"]["median"]),
                         f"`{said[:120]}`", v["left"]["pods_running"],
                         _left(v)])
        out.append(_table(["", "caller got its answer after",
                           "what it said", "pods still running 10 s later",
                           "objects left 10 s later"], rows))
    left_sides = [s for s in ("peer", "agent-sandbox", "ours", "ours-warm")
                  if any(s in res.get(w, {}) for w in ("latency", "ttfb"))]
    out.append("\n### Left in the namespace 5 s after each workload\n\n"
               "The most over the workload's rounds; a round is its runs plus "
               "one warm-up execution.\n\n")
    rows = []
    for workload in ("latency", "throughput", "ttfb"):
        if workload not in res:
            continue
        groups = (res[workload].items() if workload == "throughput"
                  else [("", res[workload])])
        for n, by_side in groups:
            label = workload + (f" ({n} in flight)" if n else "")
            rows.append([label] + [_left(by_side[s]) if s in by_side else "–"
                                   for s in left_sides])
    out.append(_table(["workload"] + [SIDE_NAMES[s] for s in left_sides],
                      rows))
    pool_left = [v["pool_left_after_stop"] for w in ("latency", "ttfb")
                 for v in res.get(w, {}).values()
                 if "pool_left_after_stop" in v]
    if pool_left:
        most = {k: max(p[k] for p in pool_left) for k in KINDS}
        out.append("\nThe warm pool's idle pods, their Jobs and its launcher "
                   "ConfigMap are there by design while our server runs and "
                   "are not counted above; after the server stopped (SIGTERM) "
                   "at most " + ", ".join(f"{most[k]} {k}" for k in KINDS) +
                   " of them were left.\n")
    return "".join(out)


def markdown(doc, json_name):
    from .report_text import intro, fake_notes

    parts = [intro(doc, json_name)]
    for name, res in doc["results"].items():
        title = ("fake kube-apiserver (instant kubelet)" if name == "fake"
                 else "real cluster")
        parts.append(f"\n## API server: {title}\n\n")
        if name == "fake":
            parts.append(fake_notes(res))
        parts.append(api_section(name, res))
    if "real" not in doc["results"]:
        parts.append("\n## API server: real cluster\n\nNot run: "
                     "`E2E_ENV_FILE` was not set.\n")
    return "".join(parts)
