"""The security and shape checks of rendered manifests (check_deploy.py render
and sandbox): hardening of every container, the Role's rules, network
policies, probes and grace periods. Failures are collected in `failures`.
"""
import yaml
import re

RELEASE = "code-executor"
NAMESPACE = "agent-sandbox"
# The RBAC rules of docs/architecture.md, exactly (server/kube/permission_check.cc
# is their source; its test compares this copy with it).
EXPECTED_RULES = {
    ("", "configmaps"): {"create", "get", "list", "delete"},
    ("batch", "jobs"): {"create", "get", "list", "delete"},
    ("", "pods"): {"list", "watch"},
    ("", "pods/log"): {"get"},
}
# Added when config.kubernetes.warmPool.size > 0: a warm pod's request goes
# over a WebSocket attach.
WARM_POOL_RULES = {
    ("", "pods/attach"): {"get", "create"},
}
SANDBOX_LABEL = ("app.kubernetes.io/managed-by", "code-executor")
CLIENT_LABEL = ("code-executor.dev/client", "true")
HEALTH_SERVICE = "codeexecutor.v1.CodeExecutor"

failures = []


def fail(msg):
    failures.append(msg)
    print(f"FAIL: {msg}")


def check(cond, msg):
    if not cond:
        fail(msg)
    return cond


def duration_seconds(v):
    if isinstance(v, (int, float)):
        return float(v)
    s = str(v)
    if re.fullmatch(r"[0-9]+", s):
        return float(s)
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
    parts = re.findall(r"((?:[0-9]*\.)?[0-9]+)(ns|us|µs|ms|s|m|h)", s)
    if not parts or "".join(a + b for a, b in parts) != s:
        raise ValueError(f"bad duration {s!r}")
    return sum(float(a) * units[b] for a, b in parts)


def by_kind(docs, kind):
    return [d for d in docs if d.get("kind") == kind]


def one(docs, kind, where):
    found = by_kind(docs, kind)
    check(len(found) == 1, f"{where}: expected one {kind}, found {len(found)}")
    return found[0] if found else None


def matches(selector, labels):
    return all(labels.get(k) == v for k, v in (selector or {}).get("matchLabels", {}).items())


def check_container_hardening(where, pod_spec, c):
    psc = pod_spec.get("securityContext") or {}
    sc = c.get("securityContext") or {}
    name = f"{where}: container {c.get('name')}"
    check(sc.get("allowPrivilegeEscalation") is False, f"{name}: allowPrivilegeEscalation must be false")
    check(sc.get("readOnlyRootFilesystem") is True, f"{name}: readOnlyRootFilesystem must be true")
    check((sc.get("capabilities") or {}).get("drop") == ["ALL"], f"{name}: capabilities.drop must be [ALL]")
    check(not sc.get("privileged"), f"{name}: must not be privileged")
    check(sc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True, f"{name}: runAsNonRoot must be true")
    uid = sc.get("runAsUser", psc.get("runAsUser"))
    check(isinstance(uid, int) and uid > 0, f"{name}: runAsUser must be a non-zero uid, got {uid!r}")
    seccomp = (sc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
    check(seccomp == "RuntimeDefault", f"{name}: seccompProfile must be RuntimeDefault, got {seccomp!r}")


def warm_pool_size(docs):
    """config.kubernetes.warmPool.size of the rendered server config (0 if unset)."""
    for d in docs:
        if d.get("kind") == "ConfigMap" and "server.yaml" in (d.get("data") or {}):
            cfg = yaml.safe_load(d["data"]["server.yaml"]) or {}
            return ((cfg.get("kubernetes") or {}).get("warmPool") or {}).get("size", 0)
    return 0


def check_manifests(docs, where, hpa=False, monitor=False):
    import yaml
    if not check(docs, f"{where}: nothing rendered"):
        return
    for d in docs:
        md = d.get("metadata", {})
        if d["kind"] != "Namespace":
            check(md.get("namespace") == NAMESPACE,
                  f"{where}: {d['kind']}/{md.get('name')} not in namespace {NAMESPACE}")
    for kind in ("ClusterRole", "ClusterRoleBinding"):
        check(not by_kind(docs, kind), f"{where}: no {kind} allowed (nothing cluster-wide)")

    # ServiceAccount, Role, RoleBinding.
    sa = one(docs, "ServiceAccount", where)
    role = one(docs, "Role", where)
    rb = one(docs, "RoleBinding", where)
    if role:
        rules = {}
        for r in role.get("rules", []):
            for g in r.get("apiGroups", []):
                for res in r.get("resources", []):
                    check((g, res) not in rules, f"{where}: Role rule for {g}/{res} given twice")
                    rules[(g, res)] = set(r.get("verbs", []))
                    check(len(r["verbs"]) == len(set(r["verbs"])), f"{where}: duplicate verbs {r['verbs']}")
            check(not r.get("resourceNames") and not r.get("nonResourceURLs"),
                  f"{where}: unexpected Role rule fields {r}")
        expected = dict(EXPECTED_RULES)
        if warm_pool_size(docs) > 0:
            expected.update(WARM_POOL_RULES)
        check(rules == expected,
              f"{where}: Role rules must be exactly docs/architecture.md's {expected}, got {rules}")
    if sa and rb and role:
        check(rb["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                "name": role["metadata"]["name"]}, f"{where}: RoleBinding roleRef")
        check(rb["subjects"] == [{"kind": "ServiceAccount", "name": sa["metadata"]["name"],
                                  "namespace": NAMESPACE}], f"{where}: RoleBinding subjects")

    # ConfigMap with the server config.
    cm = one(docs, "ConfigMap", where)
    cfg = yaml.safe_load(cm["data"]["server.yaml"]) if cm else {}
    check(cfg.get("apiVersion") == "codeexecutor/v1" and cfg.get("kind") == "ServerConfig",
          f"{where}: server config apiVersion/kind")
    server = cfg.get("server") or {}
    kube = cfg.get("kubernetes") or {}
    check(server.get("backend") == "kubernetes", f"{where}: server.backend must be kubernetes")
    check(kube.get("namespace") == NAMESPACE, f"{where}: kubernetes.namespace must be {NAMESPACE}")
    check(kube.get("runtimeClassName") == "gvisor", f"{where}: kubernetes.runtimeClassName must be gvisor")

    # Deployment.
    dep = one(docs, "Deployment", where)
    if dep:
        spec = dep["spec"]
        pod = spec["template"]["spec"]
        pod_labels = spec["template"]["metadata"]["labels"]
        if hpa:
            check("replicas" not in spec, f"{where}: Deployment must not set replicas with an HPA")
        else:
            check(spec.get("replicas") == 2, f"{where}: Deployment replicas must be 2")
        check(matches(spec["selector"], pod_labels), f"{where}: selector does not match the pod labels")
        check(pod_labels.get(SANDBOX_LABEL[0]) != SANDBOX_LABEL[1],
              f"{where}: executor pods must not carry the sandbox label (the isolation policy would cut them off)")
        check(sa is not None and pod.get("serviceAccountName") == sa["metadata"]["name"],
              f"{where}: pod serviceAccountName")
        check(pod.get("automountServiceAccountToken") is True,
              f"{where}: the executor needs its service account token")
        grace = pod.get("terminationGracePeriodSeconds")
        sg = duration_seconds(server.get("shutdownGrace", "30s"))
        check(isinstance(grace, int) and grace > sg,
              f"{where}: terminationGracePeriodSeconds {grace} must be > shutdownGrace {sg}s")
        check(len(pod["containers"]) == 1, f"{where}: one container expected")
        for c in pod.get("initContainers", []) + pod["containers"]:
            check_container_hardening(where, pod, c)
        c = pod["containers"][0]
        check("--config=/etc/code-executor/server.yaml" in c.get("args", []), f"{where}: --config flag")
        env = {e["name"]: e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") for e in c.get("env", [])}
        check(env.get("POD_NAME") == "metadata.name", f"{where}: POD_NAME from the Downward API")
        check(env.get("POD_UID") == "metadata.uid", f"{where}: POD_UID from the Downward API")
        ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
        check(ports == {"grpc": 50051, "metrics": 9464}, f"{where}: container ports {ports}")
        rp = (c.get("readinessProbe") or {}).get("grpc") or {}
        lp = (c.get("livenessProbe") or {}).get("grpc") or {}
        check(rp.get("port") == 50051 and rp.get("service") == HEALTH_SERVICE,
              f"{where}: readiness must be a grpc probe on 50051 for {HEALTH_SERVICE}, got {rp}")
        check(lp.get("port") == 50051, f"{where}: liveness must be a grpc probe on 50051, got {lp}")
        res = c.get("resources") or {}
        check(res.get("requests") and res.get("limits"), f"{where}: container resources requests+limits")
        mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
        check(mounts.get("/etc/code-executor", {}).get("readOnly") is True, f"{where}: config mounted read-only")
        cm_vols = [v for v in pod.get("volumes", []) if "configMap" in v]
        check(cm and cm_vols and cm_vols[0]["configMap"]["name"] == cm["metadata"]["name"],
              f"{where}: config volume names the ConfigMap")

        # Service.
        svc = one(docs, "Service", where)
        if svc:
            check(svc["spec"]["selector"] == spec["selector"]["matchLabels"], f"{where}: Service selector")
            sports = {p["name"]: (p["port"], p["targetPort"]) for p in svc["spec"]["ports"]}
            check(sports == {"grpc": (50051, "grpc"), "metrics": (9464, "metrics")}, f"{where}: Service ports {sports}")
            check(svc["metadata"]["name"] == RELEASE, f"{where}: Service must be named {RELEASE}")

        # NetworkPolicies.
        nps = by_kind(docs, "NetworkPolicy")
        iso = [n for n in nps if n["spec"]["podSelector"].get("matchLabels") == dict([SANDBOX_LABEL])]
        if check(len(iso) == 1, f"{where}: one NetworkPolicy must select the sandbox pods"):
            s = iso[0]["spec"]
            check(sorted(s.get("policyTypes", [])) == ["Egress", "Ingress"], f"{where}: sandbox policyTypes")
            check(not s.get("ingress") and not s.get("egress"), f"{where}: sandbox policy must have no rules")
        srv = [n for n in nps if matches(n["spec"]["podSelector"], pod_labels)]
        if check(len(srv) == 1, f"{where}: one NetworkPolicy must select the executor pods"):
            s = srv[0]["spec"]
            check(s.get("policyTypes") == ["Ingress"], f"{where}: executor policy is ingress-only (egress to the API server open)")
            grpc_rules = [r for r in s.get("ingress", []) if {"port": "grpc", "protocol": "TCP"} in r.get("ports", [])]
            check(len(grpc_rules) == 1 and all(
                (p.get("podSelector") or {}).get("matchLabels") == dict([CLIENT_LABEL]) for p in grpc_rules[0]["from"]),
                f"{where}: grpc reachable only from pods labelled {CLIENT_LABEL}")
            for r in s.get("ingress", []):
                check(r.get("from") and r.get("ports"), f"{where}: every ingress rule names peers and ports: {r}")

    pdbs = by_kind(docs, "PodDisruptionBudget")
    if check(len(pdbs) == 1, f"{where}: one PodDisruptionBudget") and dep:
        check(pdbs[0]["spec"]["selector"] == dep["spec"]["selector"], f"{where}: PDB selector")
    check(len(by_kind(docs, "HorizontalPodAutoscaler")) == (1 if hpa else 0), f"{where}: HPA count")
    check(len(by_kind(docs, "ServiceMonitor")) == (1 if monitor else 0), f"{where}: ServiceMonitor count")
    for d in docs:
        if d["kind"] == "Namespace":
            continue
        labels = d["metadata"].get("labels", {})
        for k in ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version",
                  "app.kubernetes.io/managed-by", "helm.sh/chart"):
            check(k in labels, f"{where}: {d['kind']}/{d['metadata']['name']} lacks label {k}")
