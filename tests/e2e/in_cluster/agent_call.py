"""One agent's call, run in a client pod (tests/e2e/e2e_helm_install_test.cc).

The pod is a python image with the project's Python client (and grpcio,
protobuf) mounted on PYTHONPATH. It runs $AGENT_CODE through the executor at
$CODE_EXECUTOR_TARGET with the pod's projected token ($CODE_EXECUTOR_TOKEN_FILE)
and prints one JSON line: what came back, stdout as length and sha256 (the
bytes are checked exactly, whatever they are), or the error's class and
message. With $AGENT_REPEAT=N it makes N calls $AGENT_INTERVAL seconds apart
and prints {"runs": [one such report per call]}.
"""
import hashlib
import json
import os
import sys
import time

from code_executor import CodeExecutorClient, CodeExecutorError


def call() -> dict:
    try:
        with CodeExecutorClient(
            os.environ["CODE_EXECUTOR_TARGET"],
            token_file=os.environ["CODE_EXECUTOR_TOKEN_FILE"],
        ) as client:
            started_at = time.time()
            result = client.run(os.environ["AGENT_CODE"])
        return {
            "started_at": started_at,
            "exit_code": result.exit_code,
            "outcome": str(result.outcome),
            "stdout_len": len(result.stdout_bytes),
            "stdout_sha256": hashlib.sha256(result.stdout_bytes).hexdigest(),
            "stderr": result.stderr_bytes.decode("utf-8", "replace")[-2000:],
        }
    except CodeExecutorError as error:
        return {"error": type(error).__name__, "message": str(error)}


def main() -> int:
    repeat = int(os.environ.get("AGENT_REPEAT", "1"))
    if repeat == 1:
        report = call()
    else:
        runs = []
        for i in range(repeat):
            if i:
                time.sleep(float(os.environ["AGENT_INTERVAL"]))
            runs.append(call())
        report = {"runs": runs}
    print(json.dumps(report, sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
