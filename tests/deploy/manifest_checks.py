"""The security and shape checks of rendered manifests (check_deploy.py render
and sandbox): hardening of every container, the Role's rules (and with token
auth the TokenReview ClusterRole; otherwise nothing cluster-scoped), network
policies, probes (on the health port with TLS), the TLS Secret mount and grace
periods. Failures are collected in `failures`.
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
# The one cluster-wide grant, only with config.server.auth.mode token: a
# TokenReview has no namespace. TokenReviewPermissions() in
# server/kube/permission_check.cc is its source (check_deploy.py render
# compares this copy with it and with docs/architecture.md's RBAC table).
TOKEN_REVIEW_RULES = {
    ("authentication.k8s.io", "tokenreviews"): {"create"},
}
# Kinds without a namespace. The chart renders none of them except the
# TokenReview ClusterRole(Binding) above; k8s/ adds its Namespace.
CLUSTER_SCOPED_KINDS = {
    "Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
    "PriorityClass", "RuntimeClass", "StorageClass", "PersistentVolume",
    "IngressClass", "APIService", "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration", "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding", "FlowSchema",
    "PriorityLevelConfiguration", "CSIDriver", "VolumeAttachment", "Node",
}
TLS_DIR = "/etc/code-executor/tls"
DEFAULT_HEALTH_PORT = 8081
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


API_TOKEN_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


def projects_api_token(pod):
    """The pod mounts a projected API token (and the CA and namespace) where
    the kubelet's automount would (serviceAccount.tokenExpirationSeconds)."""
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for mount in pod["containers"][0].get("volumeMounts", []):
        if mount.get("mountPath") != API_TOKEN_DIR:
            continue
        sources = volumes.get(mount["name"], {}).get("projected", {}).get("sources", [])
        paths = {src["serviceAccountToken"]["path"] for src in sources if "serviceAccountToken" in src}
        paths |= {item["path"] for src in sources if "configMap" in src for item in src["configMap"].get("items", [])}
        paths |= {item["path"] for src in sources if "downwardAPI" in src for item in src["downwardAPI"]["items"]}
        return paths == {"token", "ca.crt", "namespace"}
    return False


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


def rules_of(role, where):
    """{(group, resource): {verbs}} of a Role or ClusterRole; refuses rules
    given twice, duplicate verbs, resourceNames and nonResourceURLs."""
    rules = {}
    for r in role.get("rules", []):
        for g in r.get("apiGroups", []):
            for res in r.get("resources", []):
                check((g, res) not in rules, f"{where}: {role['kind']} rule for {g}/{res} given twice")
                rules[(g, res)] = set(r.get("verbs", []))
                check(len(r["verbs"]) == len(set(r["verbs"])), f"{where}: duplicate verbs {r['verbs']}")
        check(not r.get("resourceNames") and not r.get("nonResourceURLs"),
              f"{where}: unexpected {role['kind']} rule fields {r}")
    return rules


def check_cluster_scope(docs, where, token, namespace_object):
    """Nothing cluster-scoped, except the TokenReview ClusterRole and its
    ClusterRoleBinding with token auth (and k8s/'s own Namespace)."""
    cluster = sorted(d["kind"] for d in docs if d["kind"] in CLUSTER_SCOPED_KINDS)
    expected = sorted((["ClusterRole", "ClusterRoleBinding"] if token else [])
                      + (["Namespace"] if namespace_object else []))
    check(cluster == expected,
          f"{where}: cluster-scoped objects must be exactly {expected} "
          f"({'token auth' if token else 'nothing cluster-wide'}), got {cluster}")
    for d in docs:
        md = d.get("metadata", {})
        if d["kind"] in CLUSTER_SCOPED_KINDS:
            check("namespace" not in md, f"{where}: cluster-scoped {d['kind']}/{md.get('name')} has a namespace")
        else:
            check(md.get("namespace") == NAMESPACE,
                  f"{where}: {d['kind']}/{md.get('name')} not in namespace {NAMESPACE}")


def check_token_review_rbac(docs, where, sa):
    """The TokenReview ClusterRole: exactly TOKEN_REVIEW_RULES, bound to the
    chart's ServiceAccount in the release namespace, named per namespace."""
    name = f"{RELEASE}-{NAMESPACE}-tokenreview"
    cr = one(docs, "ClusterRole", where)
    crb = one(docs, "ClusterRoleBinding", where)
    if cr:
        check(cr["metadata"]["name"] == name, f"{where}: ClusterRole must be named {name}")
        check(len(cr.get("rules", [])) == 1, f"{where}: ClusterRole must have exactly one rule: {cr.get('rules')}")
        rules = rules_of(cr, where)
        check(rules == TOKEN_REVIEW_RULES,
              f"{where}: ClusterRole rules must be exactly {TOKEN_REVIEW_RULES}, got {rules}")
        check(not cr.get("aggregationRule"), f"{where}: ClusterRole must not aggregate")
    if cr and crb:
        check(crb["metadata"]["name"] == name, f"{where}: ClusterRoleBinding must be named {name}")
        check(crb["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                 "name": cr["metadata"]["name"]}, f"{where}: ClusterRoleBinding roleRef")
        check(sa is not None and crb.get("subjects") == [
            {"kind": "ServiceAccount", "name": sa["metadata"]["name"], "namespace": NAMESPACE}],
            f"{where}: ClusterRoleBinding subject must be the chart's ServiceAccount in {NAMESPACE}, "
            f"got {crb.get('subjects')}")


def check_manifests(docs, where, hpa=False, monitor=False, tls=False, client_ca=False,
                    auth="none", health_port=DEFAULT_HEALTH_PORT, reflection="auto",
                    namespace_object=False):
    """tls: tls.secretName set (client_ca: tls.clientCa); auth:
    config.server.auth.mode; reflection: the rendered server.reflection
    expected ("auto": false with auth on, else not rendered)."""
    import yaml
    if not check(docs, f"{where}: nothing rendered"):
        return
    token = auth == "token"
    check_cluster_scope(docs, where, token, namespace_object)

    # ServiceAccount, Role, RoleBinding.
    sa = one(docs, "ServiceAccount", where)
    role = one(docs, "Role", where)
    rb = one(docs, "RoleBinding", where)
    if role:
        rules = rules_of(role, where)
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
    if token:
        check_token_review_rbac(docs, where, sa)

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
    # TLS (tls.secretName): the Secret's files, and a plaintext health listener.
    if tls:
        want_tls = {"certFile": f"{TLS_DIR}/tls.crt", "keyFile": f"{TLS_DIR}/tls.key"}
        if client_ca:
            want_tls["clientCaFile"] = f"{TLS_DIR}/ca.crt"
        got_tls = {k: v for k, v in (server.get("tls") or {}).items() if k != "reloadInterval"}
        check(got_tls == want_tls, f"{where}: server.tls must be {want_tls}, got {got_tls}")
        check(server.get("healthAddress") == f"0.0.0.0:{health_port}",
              f"{where}: server.healthAddress must be 0.0.0.0:{health_port} (probes.healthPort), "
              f"got {server.get('healthAddress')!r}")
    else:
        check(not (server.get("tls") or {}).get("certFile"), f"{where}: no server.tls without tls.secretName")
        check(not server.get("healthAddress"), f"{where}: no server.healthAddress without TLS")
    # Auth: reflection off unless set; the mode as given.
    check((server.get("auth") or {}).get("mode", "none") == auth, f"{where}: server.auth.mode must be {auth}")
    if reflection == "auto":
        if auth != "none":
            check(server.get("reflection") is False,
                  f"{where}: server.reflection must be false with auth mode {auth}, got {server.get('reflection')!r}")
        else:
            check("reflection" not in server,
                  f"{where}: server.reflection must be left to the server's default without auth")
    else:
        check(server.get("reflection") is reflection,
              f"{where}: server.reflection must be {reflection} (set explicitly), got {server.get('reflection')!r}")

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
        check(pod.get("automountServiceAccountToken") is True or projects_api_token(pod),
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
        want_ports = {"grpc": 50051, "metrics": 9464}
        if tls:
            want_ports["health"] = health_port
        check(ports == want_ports, f"{where}: container ports {ports}, expected {want_ports}")
        # With TLS the kubelet (no TLS) probes the plaintext `health` port.
        probe_port = ports.get("health") if tls else 50051
        what = "health" if tls else "grpc"
        rp = (c.get("readinessProbe") or {}).get("grpc") or {}
        lp = (c.get("livenessProbe") or {}).get("grpc") or {}
        check(rp.get("port") == probe_port and rp.get("service") == HEALTH_SERVICE,
              f"{where}: readiness must be a grpc probe on the {what} port {probe_port} for {HEALTH_SERVICE}, got {rp}")
        check(lp.get("port") == probe_port and lp.get("service", "") == "",
              f"{where}: liveness must be a grpc probe on the {what} port {probe_port} (service \"\"), got {lp}")
        res = c.get("resources") or {}
        check(res.get("requests") and res.get("limits"), f"{where}: container resources requests+limits")
        mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
        check(mounts.get("/etc/code-executor", {}).get("readOnly") is True, f"{where}: config mounted read-only")
        cm_vols = [v for v in pod.get("volumes", []) if "configMap" in v]
        check(cm and cm_vols and cm_vols[0]["configMap"]["name"] == cm["metadata"]["name"],
              f"{where}: config volume names the ConfigMap")
        # Secret volumes are mounted whole: a subPath mount never receives the
        # rotated content (cert-manager renewals).
        secret_vols = {v["name"]: v["secret"] for v in pod.get("volumes", []) if "secret" in v}
        for m in c.get("volumeMounts", []):
            if m["name"] in secret_vols:
                check(not m.get("subPath") and not m.get("subPathExpr"),
                      f"{where}: Secret volume {m['name']} must not be subPath-mounted: {m}")
        if tls:
            tls_mount = mounts.get(TLS_DIR) or {}
            vol = secret_vols.get(tls_mount.get("name"))
            check(vol is not None and vol.get("secretName") and not vol.get("items"),
                  f"{where}: the tls.secretName Secret (whole) must be mounted at {TLS_DIR}: {tls_mount} {vol}")
            check(tls_mount.get("readOnly") is True, f"{where}: TLS Secret mounted read-only")
        else:
            check(not secret_vols and TLS_DIR not in mounts, f"{where}: no Secret volume without tls.secretName")

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
