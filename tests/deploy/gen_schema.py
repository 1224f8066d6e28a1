#!/usr/bin/env python3
"""Generates charts/code-executor/values.schema.json.

The schema is inferred from the chart's values.yaml (every key there, with its
type) plus, under `config:`, every key of docs/server-config.example.yaml (the
server's whole configuration, so a misspelled server key fails at
`helm install` rather than at server start). Every object has
`additionalProperties: false`, except the pass-through Kubernetes objects and
string maps listed below.

  build/venv/bin/python tests/deploy/gen_schema.py          # rewrite the file
  build/venv/bin/python tests/deploy/gen_schema.py --check  # exit 1 if stale
"""
import copy
import json
import pathlib
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "code-executor"
SCHEMA = CHART / "values.schema.json"

STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
FREE_OBJECT = {"type": "object"}  # a Kubernetes object passed through as is
FREE_LIST = {"type": "array", "items": {"type": "object"}}
NULLABLE_OBJECT = {"type": ["object", "null"]}
INT_OR_PERCENT = {"type": ["integer", "string", "null"],
                  "pattern": "^[0-9]+%$", "minimum": 0}
SCALAR_QUANTITY = {"type": ["string", "number"]}  # "500m", "4", 4, "30s", 30

OVERRIDES = {
    "global": FREE_OBJECT,
    "commonLabels": STRING_MAP,
    "commonAnnotations": STRING_MAP,
    "deploymentAnnotations": STRING_MAP,
    "podLabels": STRING_MAP,
    "podAnnotations": STRING_MAP,
    "serviceAccount.annotations": STRING_MAP,
    "serviceAccount.labels": STRING_MAP,
    "service.annotations": STRING_MAP,
    "service.labels": STRING_MAP,
    "serviceMonitor.labels": STRING_MAP,
    "serviceMonitor.annotations": STRING_MAP,
    "nodeSelector": STRING_MAP,
    "podSecurityContext": FREE_OBJECT,
    "securityContext": FREE_OBJECT,
    "resources": FREE_OBJECT,
    "affinity": FREE_OBJECT,
    "tolerations": FREE_LIST,
    "topologySpreadConstraints": FREE_LIST,
    "imagePullSecrets": FREE_LIST,
    "extraEnv": FREE_LIST,
    "networkPolicy.clients.podSelector": FREE_OBJECT,
    "networkPolicy.clients.namespaceSelector": NULLABLE_OBJECT,
    "networkPolicy.metrics.podSelector": FREE_OBJECT,
    "networkPolicy.metrics.namespaceSelector": NULLABLE_OBJECT,
    "serviceAccount.tokenExpirationSeconds": {"type": ["integer", "null"], "minimum": 600},
    "pdb.minAvailable": INT_OR_PERCENT,
    "pdb.maxUnavailable": INT_OR_PERCENT,
    "image.pullPolicy": {"type": "string",
                         "enum": ["Always", "IfNotPresent", "Never"]},
    "replicaCount": {"type": "integer", "minimum": 0},
    "terminationGracePeriodSeconds": {"type": "integer", "minimum": 1},
    "config.apiVersion": {"const": "codeexecutor/v1"},
    "config.kind": {"const": "ServerConfig"},
    "config.server.backend": {"type": "string", "enum": ["kubernetes"]},
    "config.server.auth.mode": {"type": "string",
                                "enum": ["none", "mtls", "token"]},
    "probes.healthPort": {"type": "integer", "minimum": 1, "maximum": 65535},
    "config.kubernetes.nodeSelector": STRING_MAP,
    "config.kubernetes.qps": {"type": "number", "exclusiveMinimum": 0},
    "config.kubernetes.imagePullPolicy": {
        "type": "string", "enum": ["Always", "IfNotPresent", "Never"]},
    "config.kubernetes.tolerations": {
        "type": "array",
        "items": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "key": {"type": "string"},
                "operator": {"type": "string", "enum": ["Equal", "Exists"]},
                "value": {"type": "string"},
                "effect": {"type": "string", "enum": [
                    "", "NoSchedule", "PreferNoSchedule", "NoExecute"]},
            },
        },
    },
    "config.languages": {
        "type": ["object", "null"],
        "additionalProperties": {
            "type": "object",
            "additionalProperties": False,
            "required": ["file", "command"],
            "properties": {
                "file": {"type": "string"},
                "command": {"type": "array", "items": {"type": "string"},
                            "minItems": 1},
                "image": {"type": "string"},
                "env": {"type": ["object", "null"],
                        "additionalProperties": {"type": "string"}},
            },
        },
    },
}


def infer(value, path):
    if path in OVERRIDES:
        return copy.deepcopy(OVERRIDES[path])
    in_config = path.startswith("config.")
    if isinstance(value, dict):
        props = {k: infer(v, f"{path}.{k}" if path else k)
                 for k, v in value.items()}
        # A server config section may be null (= left out); the chart reads
        # config.server itself, so that one must be a mapping.
        kind = ["object", "null"] if in_config and path != "config.server" else "object"
        return {"type": kind, "additionalProperties": False,
                "properties": props}
    if isinstance(value, list):
        item = infer(value[0], path + "[]") if value else {"type": "string"}
        return {"type": "array", "items": item}
    if isinstance(value, bool):
        return {"type": "boolean"}
    if isinstance(value, int):
        return {"type": "integer"}
    if isinstance(value, float):
        return {"type": "number"}
    if isinstance(value, str):
        # Server durations and quantities may be written as numbers.
        return copy.deepcopy(SCALAR_QUANTITY) if in_config else {"type": "string"}
    if value is None:
        return {}
    raise TypeError(f"{path}: cannot infer a schema for {value!r}")


def merge(a, b):
    """Deep-merges mapping b into a copy of a."""
    out = copy.deepcopy(a)
    for k, v in b.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def build():
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    example = yaml.safe_load(
        (ROOT / "docs" / "server-config.example.yaml").read_text())
    values = dict(values)
    values["config"] = merge(example, values["config"])
    values["global"] = {}
    schema = infer(values, "")
    schema["$schema"] = "http://json-schema.org/draft-07/schema#"
    schema["title"] = "code-executor chart values"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def main():
    text = build()
    if "--check" in sys.argv[1:]:
        if SCHEMA.read_text() != text:
            print(f"{SCHEMA.relative_to(ROOT)} is stale: run "
                  "tests/deploy/gen_schema.py", file=sys.stderr)
            return 1
        print("values.schema.json is up to date")
        return 0
    SCHEMA.write_text(text)
    print(f"wrote {SCHEMA.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
