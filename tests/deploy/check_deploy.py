#!/usr/bin/env python3
"""Checks of the deployment files: Helm chart, k8s/ manifests, Dockerfile.

  check_deploy.py lint                 helm lint --strict (defaults, all toggles)
  check_deploy.py render               helm template + k8s/: security properties
  check_deploy.py schema               misspelled keys / contradictory values fail
  check_deploy.py drift                k8s/ == fresh render; schema == generator
  check_deploy.py kubeconform          kubeconform -strict on every rendered
                                       manifest (defaults, all toggles, k8s/)
  check_deploy.py sandbox GOLDEN.json  the server's sandbox Job spec is hardened
  check_deploy.py dockerfile SERVER    every .so of SERVER comes from a package
                                       the Dockerfile's runtime stage installs

helm: $HELM, else the scripts/install-helm cache, else `helm` in $PATH;
kubeconform and its schemas: $KUBECONFORM, else the scripts/install-kubeconform
cache (schemas in kubeconform-schemas/ beside it). When a tool (or PyYAML) is
missing the check fails if $CI is set and is skipped
(exit 77) otherwise. PyYAML: this interpreter's, else the project venv's
(--venv-python PATH, default build/venv/bin/python, made by scripts/setup).
"""
import argparse
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from manifest_checks import (  # noqa: E402
    CLUSTER_SCOPED_KINDS, NAMESPACE, RELEASE, SANDBOX_LABEL, TOKEN_REVIEW_RULES,
    by_kind, check, check_container_hardening, check_manifests,
    duration_seconds, fail, failures, projects_api_token)

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "code-executor"
K8S = ROOT / "k8s"
ALL_TOGGLES = ROOT / "tests" / "deploy" / "all-toggles.values.yaml"
SKIP = 77

def unavailable(what):
    if os.environ.get("CI"):
        print(f"FAIL: {what} (required when CI is set)")
        sys.exit(1)
    print(f"SKIP: {what}")
    sys.exit(SKIP)


def find_helm():
    cands = [os.environ.get("HELM"),
             str(pathlib.Path(os.environ.get("XDG_CACHE_HOME",
                                             pathlib.Path.home() / ".cache"))
                 / "code-executor" / "bin" / "helm"),
             shutil.which("helm")]
    for c in cands:
        if c and os.access(c, os.X_OK):
            return c
    unavailable("helm not found: run scripts/install-helm (or set HELM)")


def need_yaml(venv_python):
    try:
        import yaml  # noqa: F401
        return
    except ImportError:
        pass
    py = venv_python or str(ROOT / "build" / "venv" / "bin" / "python")
    if os.access(py, os.X_OK) and os.path.realpath(py) != os.path.realpath(sys.executable) \
            and not os.environ.get("CHECK_DEPLOY_REEXEC"):
        os.environ["CHECK_DEPLOY_REEXEC"] = "1"
        os.execv(py, [py, __file__] + sys.argv[1:])
    unavailable("PyYAML not importable (scripts/setup makes build/venv with it)")


def helm(helm_bin, *args, expect_ok=True):
    proc = subprocess.run([helm_bin, *args], capture_output=True, text=True)
    if expect_ok and proc.returncode != 0:
        fail(f"helm {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}{proc.stdout}")
    return proc


def render(helm_bin, *extra):
    import yaml
    proc = helm(helm_bin, "template", RELEASE, str(CHART), "--namespace",
                NAMESPACE, *extra)
    if proc.returncode != 0:
        return []
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def load_dir(path):
    import yaml
    docs = []
    for f in sorted(path.glob("*.yaml")):
        if f.name == "kustomization.yaml":
            continue
        docs += [d for d in yaml.safe_load_all(f.read_text()) if d]
    return docs


def cmd_lint(args):
    h = find_helm()
    for extra in ([], ["-f", str(ALL_TOGGLES)]):
        proc = helm(h, "lint", "--strict", str(CHART), "--namespace", NAMESPACE, *extra)
        if proc.returncode == 0:
            print(f"ok: helm lint --strict {' '.join(extra) or '(defaults)'}")


# One caller identity for --set (helm's list syntax).
AGENT = "system:serviceaccount:agents:adk-agent"
TOKEN_AUTH = ["--set", "config.server.auth.mode=token",
              "--set", f"config.server.auth.allowedIdentities={{{AGENT}}}"]


def token_review_source_rules():
    """TokenReviewPermissions() of server/kube/permission_check.cc as
    {(group, resource): {verbs}} (the source of TOKEN_REVIEW_RULES)."""
    text = (ROOT / "server" / "kube" / "permission_check.cc").read_text()
    m = re.search(r"TokenReviewPermissions\(\)\s*\{(.*?)\n\}", text, re.S)
    rules = {}
    for g, res, sub, verb in re.findall(r'\{"([^"]*)",\s*"([^"]*)",\s*"([^"]*)",\s*"([^"]*)"\}',
                                        m.group(1) if m else ""):
        rules.setdefault((g, res + (f"/{sub}" if sub else "")), set()).add(verb)
    return rules


def cmd_render(args):
    need_yaml(args.venv_python)
    import yaml
    h = find_helm()
    # Defaults: no TLS, no auth, nothing cluster-scoped (asserted inside).
    check_manifests(render(h), "helm template (defaults)")
    docs = render(h, "-f", str(ALL_TOGGLES))
    # all-toggles.values.yaml: tls.secretName (clientCa false), token auth,
    # probes.healthPort 8082.
    check_manifests(docs, "helm template (all toggles)", hpa=True, monitor=True,
                    tls=True, auth="token", health_port=8082)
    # TLS alone (default health port), mTLS, token auth without TLS, explicit
    # values winning over the chart's.
    check_manifests(render(h, "--set", "tls.secretName=ce-tls"), "helm template (tls)", tls=True)
    check_manifests(render(h, "--set", "tls.secretName=ce-tls", "--set", "tls.clientCa=true",
                           "--set", "config.server.auth.mode=mtls"),
                    "helm template (mtls)", tls=True, client_ca=True, auth="mtls")
    check_manifests(render(h, *TOKEN_AUTH), "helm template (token auth, no TLS)", auth="token")
    check_manifests(render(h, *TOKEN_AUTH, "--set", "config.server.reflection=true"),
                    "helm template (token auth, reflection true)", auth="token", reflection=True)
    check_manifests(render(h, "--set", "config.server.reflection=false"),
                    "helm template (reflection false)", reflection=False)
    short_token = render(h, "--set", "serviceAccount.tokenExpirationSeconds=600")
    check_manifests(short_token, "helm template (tokenExpirationSeconds)")
    for d in by_kind(short_token, "Deployment"):
        pod = d["spec"]["template"]["spec"]
        check(pod.get("automountServiceAccountToken") is False and projects_api_token(pod),
              "serviceAccount.tokenExpirationSeconds: a projected token instead of the automount")
    explicit = render(h, "--set", "tls.secretName=ce-tls",
                      "--set", "config.server.tls.certFile=/etc/code-executor/tls/chain.pem",
                      "--set", "config.server.healthAddress=0.0.0.0:9000")
    for d in by_kind(explicit, "ConfigMap"):
        srv = yaml.safe_load(d["data"]["server.yaml"])["server"]
        check(srv["tls"].get("certFile") == "/etc/code-executor/tls/chain.pem"
              and srv["tls"].get("keyFile") == "/etc/code-executor/tls/tls.key"
              and srv.get("healthAddress") == "0.0.0.0:9000",
              f"explicit config.server.tls.certFile / healthAddress must win: {srv}")
    for d in by_kind(explicit, "Deployment"):
        c = d["spec"]["template"]["spec"]["containers"][0]
        check(c["readinessProbe"]["grpc"]["port"] == 9000 and c["livenessProbe"]["grpc"]["port"] == 9000,
              "probes must follow an explicit config.server.healthAddress")
    no_rbac = render(h, *TOKEN_AUTH, "--set", "rbac.create=false")
    check(no_rbac and not [d for d in no_rbac if d["kind"] in CLUSTER_SCOPED_KINDS or "Role" in d["kind"]],
          "token auth with rbac.create=false: no Role, ClusterRole or bindings")
    # The ClusterRole's rule is the server's TokenReviewPermissions(), and
    # docs/architecture.md's RBAC table lists it.
    check(token_review_source_rules() == TOKEN_REVIEW_RULES,
          f"manifest_checks.TOKEN_REVIEW_RULES {TOKEN_REVIEW_RULES} must equal TokenReviewPermissions() "
          f"of server/kube/permission_check.cc {token_review_source_rules()}")
    arch = (ROOT / "docs" / "architecture.md").read_text()
    for (group, resource), verbs in TOKEN_REVIEW_RULES.items():
        for verb in verbs:
            check(re.search(rf"^\| `{re.escape(resource)}\.{re.escape(group)}` \| `{verb}` \|.*ClusterRole",
                            arch, re.M),
                  f"docs/architecture.md's RBAC table must list {resource}.{group} {verb} (ClusterRole)")
    dep = by_kind(docs, "Deployment")
    if dep:
        pod = dep[0]["spec"]["template"]
        check(pod["metadata"]["labels"].get("team") == "agents", "all toggles: commonLabels on pods")
        check(pod["metadata"]["annotations"].get("example.com/scrape") == "yes", "all toggles: podAnnotations")
        check(pod["spec"]["containers"][0]["image"] == "registry.example.com/code-executor:0.1.0-test",
              "all toggles: image repository/tag")
        check(pod["spec"].get("nodeSelector") == {"cloud.google.com/gke-nodepool": "default-pool"},
              "all toggles: executor nodeSelector")
    # The plain manifests, checked against the same expectations.
    kdocs = load_dir(K8S)
    check_manifests(kdocs, "k8s/", namespace_object=True)
    ns = by_kind(kdocs, "Namespace")
    check(len(ns) == 1 and ns[0]["metadata"]["name"] == NAMESPACE, "k8s/: Namespace agent-sandbox")
    kust = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    files = sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
    check(sorted(kust.get("resources", [])) == files, f"k8s/kustomization.yaml must list {files}")
    check(kust.get("namespace") == NAMESPACE, "k8s/kustomization.yaml namespace")
    kubectl = shutil.which("kubectl")
    if kubectl:  # optional: kustomize builds the same objects offline
        proc = subprocess.run([kubectl, "kustomize", str(K8S)], capture_output=True, text=True)
        if check(proc.returncode == 0, f"kubectl kustomize k8s/ failed:\n{proc.stderr}"):
            built = [d for d in yaml.safe_load_all(proc.stdout) if d]
            check(sorted((d["kind"], d["metadata"]["name"]) for d in built) ==
                  sorted((d["kind"], d["metadata"]["name"]) for d in kdocs),
                  "kubectl kustomize k8s/ must build exactly the k8s/ objects")
    else:
        print("note: kubectl not found; kustomize build of k8s/ not checked")
    if not failures:
        print("ok: rendered manifests and k8s/ meet the security expectations")


def cmd_schema(args):
    h = find_helm()
    bad = [
        (["--set", "replicaCnt=3"], "replicaCnt"),
        (["--set", "image.tagg=x"], "tagg"),
        (["--set", "config.server.listenAdress=0.0.0.0:1"], "listenAdress"),
        (["--set", "config.kubernetes.runtimeClass=gvisor"], "runtimeClass"),
        (["--set", "config.languages.ruby.fille=main.rb"], "fille"),
        (["--set", "config.server.backend=gvisor-local"], "backend"),
        (["--set", "serviceAccount.tokenExpirationSeconds=300"], "tokenExpirationSeconds"),
        (["--set", "image.pullPolicy=Sometimes"], "pullPolicy"),
        (["--set", "config.server.auth.mode=tokens"], "mode"),
        (["--set", "config.server.auth.allowedIdentity={a}"], "allowedIdentity"),
        (["--set", "config.server.quotas.concurrentExecution=1"], "concurrentExecution"),
        (["--set", "config.server.reflections=false"], "reflections"),
        (["--set", "tls.secretname=x"], "secretname"),
        (["--set", "tls.clientCa=yes"], "clientCa"),
        (["--set", "probes.healthPort=0"], "healthPort"),
    ]
    contradictions = [
        (["--set", "terminationGracePeriodSeconds=30"], "terminationGracePeriodSeconds"),
        (["--set", "config.server.shutdownGrace=1h"], "terminationGracePeriodSeconds"),
        (["--set", "pdb.minAvailable=2"], "pdb.minAvailable"),
        (["--set", "hpa.enabled=true", "--set", "hpa.minReplicas=1", "--set", "pdb.minAvailable=1"], "pdb.minAvailable"),
        (["--set", "pdb.maxUnavailable=1"], "only one of minAvailable"),
        (["--set", "hpa.enabled=true", "--set", "hpa.minReplicas=5", "--set", "hpa.maxReplicas=2"], "hpa.minReplicas"),
        (["--set", "config.kubernetes.namespace=other"], "config.kubernetes.namespace"),
        (["--set", "serviceMonitor.enabled=true", "--set", "config.server.metricsAddress="], "metricsAddress"),
        # mtls identifies callers by client certificates: needs the Secret's ca.crt.
        (["--set", "config.server.auth.mode=mtls"], "tls.clientCa"),
        (["--set", "tls.secretName=x", "--set", "config.server.auth.mode=mtls"], "tls.clientCa"),
        (["--set", "tls.clientCa=true"], "tls.secretName"),
        # token without an allow-list: the server would refuse to start.
        (["--set", "config.server.auth.mode=token"], "allowedIdentities"),
        (["--set", "tls.secretName=x", "--set", "config.server.auth.mode=token",
          "--set", "config.server.auth.allowedIdentities=null"], "allowedIdentities"),
        (["--set", f"config.server.auth.allowedIdentities={{{AGENT}}}"], "allowedIdentities"),
        (["--set", "tls.secretName=x", "--set", "probes.healthPort=50051"], "healthPort"),
        (["--set", "serviceAccount.tokenExpirationSeconds=600", "--set",
          "serviceAccount.automountServiceAccountToken=false"], "tokenExpirationSeconds needs"),
    ]
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        f.write("replicaCnt: 3\n")
        f.flush()
        bad.append((["-f", f.name], "replicaCnt"))
        for extra, word in bad + contradictions:
            # helm lint reports a template's `fail` only as [INFO] (lint mode),
            # so contradictions are checked with template (= install) alone;
            # schema errors fail both.
            subs = [["template", RELEASE]]
            if (extra, word) not in contradictions:
                subs.append(["lint", "--strict"])
            for sub in subs:
                proc = helm(h, *sub, str(CHART), "--namespace", NAMESPACE, *extra, expect_ok=False)
                out = proc.stderr + proc.stdout
                if check(proc.returncode != 0, f"helm {sub[0]} {' '.join(extra)} must fail"):
                    check(word in out, f"helm {sub[0]} {' '.join(extra)}: error should name {word!r}:\n{out}")
    # Values that look odd but are right must pass.
    for extra in (["--set", "config.server.shutdownGrace=44s"],
                  ["--set", "config.server.shutdownGrace=44"],
                  ["--set", "pdb.minAvailable=50%"],
                  ["--set", "networkPolicy.enabled=false", "--set", "pdb.enabled=false"],
                  ["--set", "tls.secretName=x", "--set", "tls.clientCa=true",
                   "--set", "config.server.auth.mode=mtls"],
                  ["--set", "tls.secretName=x", *TOKEN_AUTH,
                   "--set", "config.server.quotas.executionsPerMinute=60"],
                  ["--set", "config.server.auth.mode=token",
                   "--set", "config.server.auth.allowedIdentities={system:serviceaccount:agents:*}"]):
        helm(h, "template", RELEASE, str(CHART), "--namespace", NAMESPACE, *extra)
    if not failures:
        print(f"ok: {len(bad) + len(contradictions)} bad values refused by template and lint; good ones pass")


def cmd_drift(args):
    need_yaml(args.venv_python)
    h = find_helm()
    env = dict(os.environ, HELM=h)
    proc = subprocess.run([str(ROOT / "scripts" / "render-k8s"), "--check"], env=env,
                          capture_output=True, text=True)
    sys.stdout.write(proc.stdout + proc.stderr)
    check(proc.returncode == 0, "k8s/ differs from scripts/render-k8s output")
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "deploy" / "gen_schema.py"), "--check"],
                          capture_output=True, text=True)
    sys.stdout.write(proc.stdout + proc.stderr)
    check(proc.returncode == 0, "values.schema.json differs from tests/deploy/gen_schema.py output")


def cmd_sandbox(args):
    job = json.loads(pathlib.Path(args.path).read_text())
    where = f"sandbox Job ({args.path})"
    check(job["kind"] == "Job", f"{where}: kind")
    pod_md = job["spec"]["template"]["metadata"]
    pod = job["spec"]["template"]["spec"]
    check(pod_md["labels"].get(SANDBOX_LABEL[0]) == SANDBOX_LABEL[1],
          f"{where}: pod label {SANDBOX_LABEL} (the isolation NetworkPolicy selects it)")
    check(pod.get("automountServiceAccountToken") is False, f"{where}: automountServiceAccountToken must be false")
    check(pod.get("enableServiceLinks") is False, f"{where}: enableServiceLinks must be false")
    check(pod.get("runtimeClassName") == "gvisor", f"{where}: runtimeClassName must be gvisor")
    check(pod.get("restartPolicy") == "Never", f"{where}: restartPolicy Never")
    check(not pod.get("hostNetwork") and not pod.get("hostPID") and not pod.get("hostIPC"), f"{where}: no host namespaces")
    check(pod.get("serviceAccountName") in (None, "", "default"), f"{where}: no service account of its own")
    check(pod["securityContext"].get("runAsNonRoot") is True, f"{where}: pod runAsNonRoot")
    for c in pod.get("initContainers", []) + pod["containers"]:
        check_container_hardening(where, pod, c)
        check("limits" in c.get("resources", {}), f"{where}: container resources limits")
    check(job["spec"].get("backoffLimit") == 0, f"{where}: backoffLimit 0")
    if not failures:
        print(f"ok: {where} is hardened")


def parse_runtime_packages(dockerfile):
    """apt-get install arguments of the last stage (the runtime stage)."""
    text = dockerfile.read_text()
    stages = re.split(r"(?im)^FROM\s+", text)
    last = stages[-1]
    base = last.split()[0]
    joined = re.sub(r"\\\n", " ", last)
    pkgs = set()
    for m in re.finditer(r"apt-get install ([^&\n]*)", joined):
        pkgs |= {w for w in m.group(1).split() if not w.startswith("-")}
    return base, last, pkgs


# Packages debian:bookworm-slim already has that the server's libraries may
# come from; kept minimal and explicit (anything else must be in the runtime
# stage's apt-get install): libc6 and libgcc-s1 are Essential; libstdc++6 comes
# with apt (C++); zlib1g is a Pre-Depends of dpkg. (libssl3 is NOT in the slim
# image: bookworm's apt uses GnuTLS, so the Dockerfile installs it.)
BOOKWORM_SLIM_BASE = {"libc6", "libgcc-s1", "libstdc++6", "zlib1g"}


def cmd_dockerfile(args):
    dockerfile = ROOT / "Dockerfile"
    server = pathlib.Path(args.path)
    base, runtime, pkgs = parse_runtime_packages(dockerfile)
    check(base == "debian:bookworm-slim", f"Dockerfile: runtime stage must be debian:bookworm-slim, got {base}")
    text = dockerfile.read_text()
    check(re.search(r"(?im)^FROM\s+debian:bookworm\s+AS\s+build", text), "Dockerfile: build stage on debian:bookworm")
    check("--target code_executor_server" in re.sub(r"\\\n", " ", text), "Dockerfile: builds only code_executor_server")
    users = re.findall(r"(?im)^USER\s+(\S+)", runtime)
    check(users and re.fullmatch(r"[1-9][0-9]*(:[1-9][0-9]*)?", users[-1]),
          f"Dockerfile: runtime USER must be a numeric non-root uid, got {users}")
    ep = re.findall(r"(?im)^ENTRYPOINT\s+(.*)$", runtime)
    check(ep and json.loads(ep[-1]) == ["/usr/local/bin/code_executor_server"], f"Dockerfile: ENTRYPOINT {ep}")
    cmdl = re.findall(r"(?im)^CMD\s+(.*)$", runtime)
    check(cmdl and json.loads(cmdl[-1]) == ["--config=/etc/code-executor/server.yaml"], f"Dockerfile: CMD {cmdl}")
    check("runsc" not in pkgs, "Dockerfile: no runsc in the runtime image")
    check("ca-certificates" in pkgs, "Dockerfile: ca-certificates in the runtime image")
    dev = sorted(p for p in pkgs if p.endswith("-dev"))
    check(not dev, f"Dockerfile: runtime stage must not install -dev packages: {dev}")

    if not server.exists():
        unavailable(f"{server} not built")
    if not shutil.which("ldd") or not shutil.which("dpkg"):
        unavailable("ldd/dpkg not available")
    out = subprocess.run(["ldd", str(server)], capture_output=True, text=True, check=True).stdout
    needed = {}
    for line in out.splitlines():
        line = line.strip()
        if "not found" in line:
            fail(f"ldd: {line}")
            continue
        m = re.match(r"(\S+) => (/\S+)", line) or re.match(r"(/\S+)\s+\(", line)
        if not m:
            continue  # linux-vdso
        path = m.groups()[-1]
        owner = None
        for p in (path, os.path.realpath(path)):
            r = subprocess.run(["dpkg", "-S", p], capture_output=True, text=True)
            if r.returncode == 0:
                owner = r.stdout.split(":")[0].strip()
                break
            # merged /usr: /lib/x86_64-linux-gnu vs /usr/lib/x86_64-linux-gnu
            alt = p[4:] if p.startswith("/usr/") else "/usr" + p
            r = subprocess.run(["dpkg", "-S", alt], capture_output=True, text=True)
            if r.returncode == 0:
                owner = r.stdout.split(":")[0].strip()
                break
        if not check(owner, f"dpkg -S: no package owns {path}"):
            continue
        needed.setdefault(owner, []).append(os.path.basename(path))
    missing = {p: libs for p, libs in needed.items() if p not in pkgs and p not in BOOKWORM_SLIM_BASE}
    check(not missing, "Dockerfile runtime stage lacks packages for: " +
          ", ".join(f"{p} ({' '.join(l)})" for p, l in sorted(missing.items())))
    unused = sorted(pkgs - set(needed) - {"ca-certificates"})
    check(not unused, f"Dockerfile runtime stage installs packages ldd does not need: {unused}")
    if not failures:
        print(f"ok: {len(needed)} packages provide the server's {sum(map(len, needed.values()))} libraries: "
              + " ".join(sorted(needed)))


def cmd_kubeconform(args):
    need_yaml(args.venv_python)
    h = find_helm()
    tool = os.environ.get("KUBECONFORM") or str(
        pathlib.Path(os.environ.get("XDG_CACHE_HOME", pathlib.Path.home() / ".cache"))
        / "code-executor" / "bin" / "kubeconform")
    schemas = pathlib.Path(tool).parent / "kubeconform-schemas"
    if not os.access(tool, os.X_OK) or not schemas.is_dir():
        unavailable("kubeconform not found: run scripts/install-kubeconform (or set KUBECONFORM)")
    location = f"{schemas}/{{{{ .ResourceKind }}}}{{{{ .KindSuffix }}}}.json"

    def validate(text, what):
        proc = subprocess.run([tool, "-strict", "-summary", "-schema-location", location, "-"],
                              input=text, capture_output=True, text=True)
        return proc.returncode, proc.stdout + proc.stderr

    sources = [("helm template (defaults)",
                helm(h, "template", RELEASE, str(CHART), "--namespace", NAMESPACE).stdout),
               ("helm template (all toggles)",
                helm(h, "template", RELEASE, str(CHART), "--namespace", NAMESPACE,
                     "-f", str(ALL_TOGGLES)).stdout)]
    # kustomization.yaml configures kustomize; it is no Kubernetes object.
    sources += [(f"k8s/{f.name}", f.read_text()) for f in sorted(K8S.glob("*.yaml"))
                if f.name != "kustomization.yaml"]
    for what, text in sources:
        code, out = validate(text, what)
        summary = re.search(r"(\d+) resources? found.*Valid: (\d+), Invalid: (\d+), "
                            r"Errors: (\d+), Skipped: (\d+)", out)
        if check(code == 0 and summary, f"kubeconform -strict {what}:\n{out}"):
            found, valid = int(summary.group(1)), int(summary.group(2))
            if check(found > 0 and valid == found, f"kubeconform {what}: {out}"):
                print(f"ok: kubeconform -strict {what}: {valid} valid")
    # The check itself: a misspelled field in the rendered Deployment fails.
    import yaml
    docs = [d for d in yaml.safe_load_all(sources[0][1]) if d]
    for d in docs:
        if d.get("kind") == "Deployment":
            d["spec"]["replicaz"] = 2
    code, out = validate(yaml.safe_dump_all(docs), "misspelled")
    check(code != 0 and "replicaz" in out,
          f"kubeconform -strict accepted a Deployment with spec.replicaz:\n{out}")
    if not failures:
        print("ok: kubeconform -strict refuses spec.replicaz")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--venv-python")
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("lint", "render", "schema", "drift", "kubeconform"):
        sub.add_parser(name)
    sub.add_parser("sandbox").add_argument("path")
    sub.add_parser("dockerfile").add_argument("path")
    args = ap.parse_args()
    {"lint": cmd_lint, "render": cmd_render, "schema": cmd_schema, "drift": cmd_drift,
     "sandbox": cmd_sandbox, "dockerfile": cmd_dockerfile,
     "kubeconform": cmd_kubeconform}[args.cmd](args)
    if failures:
        print(f"0 passed, {len(failures)} failed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
