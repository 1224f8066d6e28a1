#!/usr/bin/env python3
"""Writes kubeconform's standalone strict JSON schemas from Kubernetes'
OpenAPI v2 document (api/openapi-spec/swagger.json of k8s.io/kubernetes),
and from CustomResourceDefinitions (YAML, e.g. prometheus-operator's
ServiceMonitor) for the kinds the chart may render beyond the built-in ones.

  openapi_to_jsonschema.py SWAGGER_JSON OUT_DIR [CRD_YAML...]

One file per kind, named as kubeconform looks them up with
`-schema-location 'OUT_DIR/{{ .ResourceKind }}{{ .KindSuffix }}.json'`:
`deployment-apps-v1.json`, `configmap-v1.json`, `role-rbac-v1.json`. What the
conversion does, as the published schemas (kubernetes-json-schema's
standalone-strict) do: every $ref is inlined (a type that contains itself
becomes `{}` below its first occurrence), an object with properties refuses
other keys (strict), every typed value may also be null, and
int-or-string values (ports, quantities) take a string or a number.
"""

import json
import os
import sys

INT_OR_STRING = {"oneOf": [{"type": "string"}, {"type": "integer"}]}
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"


def convert(schema, definitions, seen):
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name in seen:
            return {}
        if name == QUANTITY:
            return {"oneOf": [{"type": "string"}, {"type": "number"}]}
        return convert(definitions[name], definitions, seen | {name})
    if schema.get("format") == "int-or-string":
        return dict(INT_OR_STRING)
    out = {}
    for key, value in schema.items():
        if key == "properties":
            out[key] = {k: convert(v, definitions, seen) for k, v in value.items()}
        elif key == "items" and isinstance(value, dict):
            out[key] = convert(value, definitions, seen)
        elif key == "additionalProperties" and isinstance(value, dict):
            out[key] = convert(value, definitions, seen)
        elif key in ("description", "x-kubernetes-group-version-kind"):
            continue
        else:
            out[key] = value
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    if isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


def strict_crd_schema(schema):
    """A CRD's openAPIV3Schema made strict the same way (no $refs there)."""
    if schema.get("x-kubernetes-int-or-string"):
        return dict(INT_OR_STRING)
    out = {}
    for key, value in schema.items():
        if key == "properties":
            out[key] = {k: strict_crd_schema(v) for k, v in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = strict_crd_schema(value)
        elif key == "description":
            continue
        else:
            out[key] = value
    if ("properties" in out and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    if isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


def write_crd_schemas(crd_path, out_dir):
    import yaml  # PyYAML (build/venv); only needed for CRDs
    written = 0
    with open(crd_path) as f:
        for crd in yaml.safe_load_all(f):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            group = crd["spec"]["group"].split(".")[0]
            kind = crd["spec"]["names"]["kind"].lower()
            for version in crd["spec"]["versions"]:
                schema = version.get("schema", {}).get("openAPIV3Schema")
                if schema is None:
                    continue
                schema = strict_crd_schema(schema)
                schema["$schema"] = "http://json-schema.org/schema#"
                path = os.path.join(out_dir, f"{kind}-{group}-{version['name']}.json")
                with open(path, "w") as out:
                    json.dump(schema, out)
                written += 1
    return written


def main():
    swagger_path, out_dir = sys.argv[1], sys.argv[2]
    with open(swagger_path) as f:
        definitions = json.load(f)["definitions"]
    os.makedirs(out_dir, exist_ok=True)
    written = 0
    for name, definition in definitions.items():
        for gvk in definition.get("x-kubernetes-group-version-kind", []):
            group = gvk["group"].split(".")[0]
            suffix = (f"-{group}" if group else "") + f"-{gvk['version']}"
            path = os.path.join(out_dir, f"{gvk['kind'].lower()}{suffix}.json")
            schema = convert(definition, definitions, {name})
            schema["$schema"] = "http://json-schema.org/schema#"
            with open(path, "w") as f:
                json.dump(schema, f)
            written += 1
    for crd_path in sys.argv[3:]:
        written += write_crd_schemas(crd_path, out_dir)
    print(f"{written} schemas in {out_dir}")


if __name__ == "__main__":
    main()
