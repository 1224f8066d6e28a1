"""Measures bench/session-cells' sides through the Python client (see there)."""

from __future__ import annotations

import argparse
import statistics
import time

from code_executor import CodeExecutorClient, Finished, Outcome, Stdout


def timed(stream_call):
    """(first output byte, whole call) in seconds, and the stdout."""
    start = time.perf_counter()
    first = None
    out = b""
    with stream_call() as stream:
        for event in stream:
            if isinstance(event, Stdout):
                first = first or time.perf_counter() - start
                out += event.data
            elif isinstance(event, Finished):
                if event.outcome is not Outcome.OK:
                    raise RuntimeError(f"{event.outcome.value}: {event.message}")
    return first, time.perf_counter() - start, out.decode()


def p95(values):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--cold", required=True)
    parser.add_argument("--warm", required=True)
    parser.add_argument("--session-on", choices=("cold", "warm"),
                        default="cold",
                        help="the server that holds the session")
    parser.add_argument("--pause", type=float, default=0.2,
                        help="seconds between calls (the warm pool refills)")
    args = parser.parse_args()

    cold = CodeExecutorClient(args.cold)
    warm = CodeExecutorClient(args.warm)
    owner = cold if args.session_on == "cold" else warm
    session = owner.create_session(idle_timeout=600)
    counter = [0]

    def stateful():
        counter[0] += 1
        return owner.stream("n += 1\nprint(n)", session_id=session.session_id)

    sides = {
        "one-shot, cold": lambda: cold.stream("print(1)"),
        "one-shot, warm pool": lambda: warm.stream("print(1)"),
        "cell in a live session": lambda: owner.stream(
            "print(1)", session_id=session.session_id),
        "cell using the session's state": stateful,
    }
    # Warm-up: one of each (the state starts at n = 0).
    owner.run("n = 0", session_id=session.session_id)
    for name, call in sides.items():
        if name != "cell using the session's state":
            timed(call)
    samples = {name: [] for name in sides}
    names = list(sides)
    for round_ in range(args.runs):
        order = names[round_ % len(names):] + names[:round_ % len(names)]
        for name in order:
            first, whole, out = timed(sides[name])
            expected = f"{counter[0]}\n" if name.startswith("cell using") else "1\n"
            if out != expected:
                raise RuntimeError(f"{name}: got {out!r}, expected {expected!r}")
            samples[name].append((first, whole))
            time.sleep(args.pause)  # the warm pool refills between rounds
    cells = owner.close_session(session.session_id)
    print(f"{args.runs} rounds, rotating order; session ran {cells} cells")
    print("| `print(1)` | first output byte: median (p95) | whole call: median (p95) |")
    print("| --- | --- | --- |")
    for name, values in samples.items():
        firsts = [f for f, _ in values]
        wholes = [w for _, w in values]
        print(f"| {name} | {statistics.median(firsts):.3f} s ({p95(firsts):.3f} s) "
              f"| {statistics.median(wholes):.3f} s ({p95(wholes):.3f} s) |")
    cold_whole = statistics.median(w for _, w in samples["one-shot, cold"])
    cell_whole = statistics.median(w for _, w in samples["cell in a live session"])
    print(f"cell / one-shot cold (whole call, medians): {cell_whole / cold_whole:.3f}")
    cold.close()
    warm.close()


if __name__ == "__main__":
    main()
