#!/usr/bin/env python3
"""Checks of the Helm chart deploy/helm/promsidecar against the plain manifests.

  chart_check.py lint                 helm lint --strict passes (default and other modes)
  chart_check.py matches-manifests    default values render exactly deploy/*.yaml + deploy/crd/*.yaml
  chart_check.py seed-group           apiGroup=monitoring.coreos.com: the optional CRD and the flag
  chart_check.py options              the other values (cert-manager, agent namespaces, repair, ...)
  chart_check.py dry-run --state-dir DIR
                                      kubectl apply --dry-run=server of deploy/ + deploy/crd/ and of
                                      non-default renders against the control plane in DIR

Objects are compared as parsed YAML, keyed by (kind, namespace, name), so order,
comments and formatting do not matter; any other difference does, and is
printed as a unified diff. helm comes from scripts/build-helm.
"""
import argparse
import difflib
import glob
import os
import subprocess
import sys

import yaml

RELEASE = "promsidecar"
CHART = os.path.join("deploy", "helm", "promsidecar")


# --- pure: documents and their comparison ---------------------------------


def load_documents(text, origin):
    """Parses a multi-document YAML stream; empty documents are dropped."""
    docs = []
    for doc in yaml.safe_load_all(text):
        if doc is None:
            continue
        if not isinstance(doc, dict) or "kind" not in doc or "metadata" not in doc:
            raise ValueError(f"{origin}: a document is not a Kubernetes object (no kind/metadata): {doc!r:.80}")
        docs.append(doc)
    return docs


def object_key(obj):
    meta = obj.get("metadata") or {}
    return (obj.get("kind", ""), meta.get("namespace", ""), meta.get("name", ""))


def key_text(key):
    kind, ns, name = key
    return f"{kind} {ns + '/' if ns else ''}{name}"


def index_objects(docs, origin):
    """{key: object}; two objects with one key are an error (the second would win in a cluster)."""
    out = {}
    for doc in docs:
        key = object_key(doc)
        if key in out:
            raise ValueError(f"{origin}: {key_text(key)} appears twice")
        out[key] = doc
    return out


def dump(obj):
    return yaml.safe_dump(obj, sort_keys=True, default_flow_style=False, width=1000)


def compare_objects(expected, actual, expected_name, actual_name):
    """Differences between two {key: object} maps, as readable text blocks (empty: equal)."""
    problems = []
    for key in sorted(expected.keys() - actual.keys()):
        problems.append(f"{key_text(key)}: in {expected_name}, missing from {actual_name}")
    for key in sorted(actual.keys() - expected.keys()):
        problems.append(f"{key_text(key)}: in {actual_name}, not in {expected_name}")
    for key in sorted(expected.keys() & actual.keys()):
        if expected[key] != actual[key]:
            diff = difflib.unified_diff(
                dump(expected[key]).splitlines(),
                dump(actual[key]).splitlines(),
                fromfile=f"{expected_name}: {key_text(key)}",
                tofile=f"{actual_name}: {key_text(key)}",
                lineterm="",
            )
            problems.append("\n".join(diff))
    return problems


def container_args(objects, deployment_key):
    deployment = objects.get(deployment_key)
    if deployment is None:
        return []
    return deployment["spec"]["template"]["spec"]["containers"][0].get("args", [])


# --- I/O: files, helm, kubectl ---------------------------------------------


class Checks:
    """Collects failures so one run reports all of them."""

    def __init__(self):
        self.failures = []

    def expect(self, condition, message):
        if not condition:
            self.failures.append(message)
        return condition

    def extend(self, problems):
        self.failures.extend(problems)

    def finish(self, what):
        if self.failures:
            for f in self.failures:
                print(f"FAIL: {f}\n", file=sys.stderr)
            print(f"{what}: {len(self.failures)} failure(s)", file=sys.stderr)
            return 1
        print(f"{what}: ok")
        return 0


def read_manifests(source, patterns):
    docs = []
    for pattern in patterns:
        paths = sorted(glob.glob(os.path.join(source, pattern)))
        if not paths:
            raise ValueError(f"no file matches {pattern} under {source}")
        for path in paths:
            with open(path, encoding="utf-8") as f:
                docs += load_documents(f.read(), os.path.relpath(path, source))
    return docs


def build_helm(source):
    r = subprocess.run([os.path.join(source, "scripts", "build-helm")], stdout=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise SystemExit(f"scripts/build-helm failed (exit {r.returncode}); its output is above")
    return r.stdout.strip().splitlines()[-1]


def helm(helm_bin, source, args):
    return subprocess.run([helm_bin, *args], cwd=source, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def render_raw(helm_bin, source, sets):
    args = ["template", RELEASE, CHART]
    for s in sets:
        args += ["--set", s]
    return helm(helm_bin, source, args)


def render(helm_bin, source, sets=()):
    r = render_raw(helm_bin, source, sets)
    if r.returncode != 0:
        raise SystemExit(f"helm template {' '.join('--set ' + s for s in sets)} failed:\n{r.stderr}")
    return index_objects(load_documents(r.stdout, "helm template"), "helm template")


def plain_manifests(source):
    return index_objects(read_manifests(source, ["deploy/*.yaml", "deploy/crd/*.yaml"]), "deploy/")


# The plain-manifest form of the RBAC for restarting workloads (repair, rollout).
RESTART_RBAC = "deploy/optional/restart-workloads-rbac.yaml"
# Chart value -> the operator flag it passes (None: it only binds the RBAC).
RESTART_OPTIONS = (("repair.enabled", "--repair.enabled"), ("rollout.enabled", "--rollout.enabled"))
DEPLOYMENT = ("Deployment", "promsidecar-system", "promsidecar-operator")
AGENTS_ROLE = ("ClusterRole", "", "promsidecar-agents")
OWN_CRD = ("CustomResourceDefinition", "", "prometheusagents.promsidecar.io")
SEED_CRD = ("CustomResourceDefinition", "", "prometheusagents.monitoring.coreos.com")


def check_lint(source, helm_bin):
    c = Checks()
    modes = [
        [],
        ["apiGroup=monitoring.coreos.com"],
        ["certificates.mode=cert-manager"],
        ["repair.enabled=true", "rollout.enabled=true", "agentNamespaces={team-a,team-b}"],
    ]
    for sets in modes:
        args = ["lint", "--strict", CHART]
        for s in sets:
            args += ["--set", s]
        r = helm(helm_bin, source, args)
        print(r.stdout + r.stderr)
        c.expect(r.returncode == 0, f"helm {' '.join(args)} exited {r.returncode}")
    return c.finish("helm lint")


def check_matches_manifests(source, helm_bin):
    c = Checks()
    c.extend(compare_objects(plain_manifests(source), render(helm_bin, source),
                             "deploy/ + deploy/crd/", "helm template (default values)"))
    if c.failures:
        c.failures.append("the chart (deploy/helm/promsidecar) and the plain manifests must change together")
    return c.finish("helm template with default values == deploy/ + deploy/crd/")


def check_seed_group(source, helm_bin):
    c = Checks()
    plain = plain_manifests(source)
    seed = render(helm_bin, source, ["apiGroup=monitoring.coreos.com"])
    optional = index_objects(read_manifests(source, ["deploy/optional/monitoring.coreos.com_*.yaml"]),
                             "deploy/optional/")
    c.expect(OWN_CRD not in seed, "apiGroup=monitoring.coreos.com still renders the promsidecar.io CRD")
    c.expect(seed.get(SEED_CRD) == optional.get(SEED_CRD),
             "apiGroup=monitoring.coreos.com does not render deploy/optional's CRD as it is")
    args = container_args(seed, DEPLOYMENT)
    c.expect("--api-group=monitoring.coreos.com" in args, f"no --api-group=monitoring.coreos.com in {args}")
    groups = {g for rule in seed.get(AGENTS_ROLE, {}).get("rules", []) for g in rule["apiGroups"]}
    c.expect(groups == {"monitoring.coreos.com", ""},
             f"ClusterRole promsidecar-agents grants groups {sorted(groups)}, "
             "want monitoring.coreos.com (and core for Secrets/ConfigMaps)")
    # Everything else is the plain install.
    expected = {k: v for k, v in plain.items() if k not in (OWN_CRD, DEPLOYMENT, AGENTS_ROLE)}
    rest = {k: v for k, v in seed.items() if k not in (SEED_CRD, DEPLOYMENT, AGENTS_ROLE)}
    c.extend(compare_objects(expected, rest, "deploy/", "helm template apiGroup=monitoring.coreos.com"))
    # The flag is the Deployment's only change.
    if DEPLOYMENT in seed:
        c.expect([a for a in args if a != "--api-group=monitoring.coreos.com"] ==
                 container_args(plain, DEPLOYMENT), "the seed-group Deployment's args differ beyond --api-group")
    return c.finish("helm template apiGroup=monitoring.coreos.com")


def pod_spec(objects):
    return objects[DEPLOYMENT]["spec"]["template"]["spec"]


def check_options(source, helm_bin):
    c = Checks()
    plain = plain_manifests(source)

    # cert-manager: Issuer + Certificate, and the Deployment mounts the Certificate's Secret
    # where --webhook.cert-dir points.
    cm = render(helm_bin, source, ["certificates.mode=cert-manager"])
    cert = cm.get(("Certificate", "promsidecar-system", "promsidecar-webhook"))
    issuer = cm.get(("Issuer", "promsidecar-system", "promsidecar-selfsigned"))
    if c.expect(cert is not None and issuer is not None, "cert-manager mode renders no Certificate/Issuer"):
        c.expect(cert["spec"]["issuerRef"]["name"] == "promsidecar-selfsigned", "Certificate not issued by the Issuer")
        c.expect("promsidecar-webhook.promsidecar-system.svc" in cert["spec"]["dnsNames"],
                 f"Certificate dnsNames {cert['spec']['dnsNames']} miss the webhook Service")
        args = container_args(cm, DEPLOYMENT)
        cert_dirs = [a.split("=", 1)[1] for a in args if a.startswith("--webhook.cert-dir=")]
        spec = pod_spec(cm)
        volumes = {v["name"]: v for v in spec["volumes"]}
        mounts = {m["mountPath"]: m["name"] for m in spec["containers"][0]["volumeMounts"]}
        inject = "--webhook.cert-manager-inject-ca-from=promsidecar-system/promsidecar-webhook"
        c.expect(inject in args, f"cert-manager mode: the operator must annotate its webhook configurations "
                 f"for the CA injector ({inject}), args are {args}")
        if c.expect(len(cert_dirs) == 1, f"cert-manager mode: want one --webhook.cert-dir in {args}"):
            vol = volumes.get(mounts.get(cert_dirs[0], ""), {})
            c.expect(vol.get("secret", {}).get("secretName") == cert["spec"]["secretName"],
                     f"--webhook.cert-dir={cert_dirs[0]} is not the mount of Secret {cert['spec']['secretName']}")
    c.expect(not any(k[0] in ("Certificate", "Issuer") for k in render(helm_bin, source)),
             "self-managed mode (default) renders cert-manager objects")
    ext = render(helm_bin, source, ["certificates.mode=cert-manager", "certificates.certManager.issuerRef.name=corp-ca",
                                    "certificates.certManager.issuerRef.kind=ClusterIssuer"])
    c.expect(not any(k[0] == "Issuer" for k in ext), "an issuerRef still renders the chart's Issuer")
    ref = ext.get(("Certificate", "promsidecar-system", "promsidecar-webhook"), {}).get("spec", {}).get("issuerRef")
    c.expect(ref == {"name": "corp-ca", "kind": "ClusterIssuer", "group": "cert-manager.io"},
             f"issuerRef rendered as {ref}")

    # Agent namespaces: one RoleBinding each, and the flag.
    ns = render(helm_bin, source, ["agentNamespaces={team-a,team-b}"])
    for n in ("team-a", "team-b"):
        c.expect(("RoleBinding", n, "promsidecar-agents") in ns, f"no RoleBinding promsidecar-agents in {n}")
    c.expect(("RoleBinding", "promsidecar-system", "promsidecar-agents") not in ns,
             "agentNamespaces without the operator's namespace still binds promsidecar-agents there")
    c.expect("--agent-namespaces=team-a,team-b" in container_args(ns, DEPLOYMENT),
             f"--agent-namespaces=team-a,team-b missing from {container_args(ns, DEPLOYMENT)}")

    # Another namespace, created elsewhere: every object and reference moves.
    other = render(helm_bin, source, ["namespace.name=observability", "namespace.create=false"])
    c.expect(not any(k[0] == "Namespace" for k in other), "namespace.create=false still renders a Namespace")
    stray = [key_text(k) for k in other if k[1] not in ("", "observability")]
    c.expect(not stray, f"namespace.name=observability leaves objects elsewhere: {stray}")
    subjects = [s["namespace"] for o in other.values() for s in o.get("subjects", [])]
    c.expect(subjects and set(subjects) == {"observability"}, f"RBAC subjects in namespaces {subjects}")
    other_args = container_args(other, ("Deployment", "observability", "promsidecar-operator"))
    c.expect("--leader-election-namespace=observability" in other_args and
             "--agent-namespaces=observability" in other_args,
             f"namespace.name=observability: leader election or agent namespace elsewhere in {other_args}")

    # Restarting workloads: a ClusterRole bound only when repair or rollout is on, the
    # same objects as the plain-manifest option in deploy/optional.
    optional_files = sorted(glob.glob(os.path.join(source, RESTART_RBAC)))
    optional = index_objects(read_manifests(source, [RESTART_RBAC]), "deploy/optional/") if optional_files else {}
    restart_keys = set(optional) or {("ClusterRole", "", "promsidecar-restart-workloads"),
                                     ("ClusterRoleBinding", "", "promsidecar-restart-workloads")}
    c.expect(not restart_keys & plain.keys() and not restart_keys & render(helm_bin, source).keys(),
             "the restart ClusterRole is installed by default")
    for option, flag in RESTART_OPTIONS:
        on = render(helm_bin, source, [f"{option}=true"])
        c.expect(restart_keys <= on.keys(), f"{option}=true does not bind the restart ClusterRole")
        if flag:
            c.expect(flag in container_args(on, DEPLOYMENT), f"{option}=true does not pass {flag}")
        if optional:
            c.extend(compare_objects(optional, {k: v for k, v in on.items() if k in optional},
                                     RESTART_RBAC, f"helm template {option}=true"))

    # Images, pull policy, opt-in label, log level, replicas, resources.
    custom = render(helm_bin, source, [
        "image.repository=registry.example/op", "image.tag=v9", "image.pullPolicy=Always",
        "agentImage.tag=v9.1", "webhook.namespaceOptInLabel=promsidecar.io/inject=enabled",
        "logLevel=debug", "logFormat=logfmt", "replicas=3", "resources.limits.memory=1Gi"])
    container = pod_spec(custom)["containers"][0]
    c.expect(container["image"] == "registry.example/op:v9", f"image rendered as {container['image']}")
    c.expect(container.get("imagePullPolicy") == "Always", "image.pullPolicy not rendered")
    want = {"--agent-image=ghcr.io/promsidecar/promsidecar-agent:v9.1",
            "--webhook.namespace-opt-in-label=promsidecar.io/inject=enabled", "--log.level=debug",
            "--log.format=logfmt"}
    c.expect(want <= set(container["args"]), f"args {container['args']} miss {sorted(want - set(container['args']))}")
    c.expect(custom[DEPLOYMENT]["spec"]["replicas"] == 3, "replicas not rendered")
    c.expect(container["resources"]["limits"]["memory"] == "1Gi", "resources not rendered")

    # Invalid values fail with the name of the value.
    for bad, field in (("apiGroup=example.com", "apiGroup"), ("certificates.mode=vault", "mode"),
                       ("logFormat=xml", "logFormat"), ("replicas=0", "replicas")):
        r = render_raw(helm_bin, source, [bad])
        c.expect(r.returncode != 0 and field in r.stderr,
                 f"--set {bad}: want a failure naming {field}, got exit {r.returncode}: {r.stderr.strip()}")
    r = render_raw(helm_bin, source, ["certificates.mode=cert-manager", "certificates.certManager.issuerRef.kind=Issuer"])
    c.expect(r.returncode != 0 and "issuerRef.name" in r.stderr,
             f"an issuerRef without a name must fail naming issuerRef.name: {r.stderr.strip()}")
    return c.finish("helm template options")


def check_dry_run(source, helm_bin, state_dir):
    c = Checks()

    def kubectl(args, stdin=None):
        r = subprocess.run([os.path.join(source, "scripts", "cluster"), "--state-dir", state_dir, "kubectl", *args],
                           cwd=source, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        print(f"$ kubectl {' '.join(args)}\n{r.stdout}{r.stderr}")
        return r

    # A server-side dry run creates nothing, so the namespaced objects would find no
    # namespace: create it for real (as the other tests that use deploy/ do).
    c.expect(kubectl(["apply", "-f", "deploy/00-namespace.yaml"]).returncode == 0, "cannot create the namespace")
    r = kubectl(["apply", "--dry-run=server", "-f", "deploy/crd/", "-f", "deploy/"])
    c.expect(r.returncode == 0, f"kubectl apply --dry-run=server -f deploy/crd/ -f deploy/ exited {r.returncode}")
    if os.path.isdir(os.path.join(source, "deploy", "optional")):
        r = kubectl(["apply", "--dry-run=server", "-f", "deploy/optional/"])
        c.expect(r.returncode == 0, f"kubectl apply --dry-run=server -f deploy/optional/ exited {r.returncode}")
    # Non-default renders. cert-manager's own kinds need its CRDs, which this cluster
    # does not have: they are checked by `options`; the rest (the Deployment with the
    # Secret volume) is checked here.
    for sets in (["apiGroup=monitoring.coreos.com"], ["certificates.mode=cert-manager"],
                 ["repair.enabled=true", "rollout.enabled=true"]):
        objects = [o for o in render(helm_bin, source, sets).values()
                   if not o["apiVersion"].startswith("cert-manager.io/")]
        stream = "".join("---\n" + dump(o) for o in objects)
        r = kubectl(["apply", "--dry-run=server", "-f", "-"], stdin=stream)
        c.expect(r.returncode == 0, f"kubectl apply --dry-run=server of helm template {sets} exited {r.returncode}")
    return c.finish("kubectl apply --dry-run=server")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("check", choices=["lint", "matches-manifests", "seed-group", "options", "dry-run"])
    ap.add_argument("--source", default=os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
    ap.add_argument("--helm", help="helm binary (default: the one scripts/build-helm builds)")
    ap.add_argument("--state-dir", help="dry-run: the control plane's state directory (scripts/cluster)")
    a = ap.parse_args()
    helm_bin = a.helm or build_helm(a.source)
    if a.check == "lint":
        return check_lint(a.source, helm_bin)
    if a.check == "matches-manifests":
        return check_matches_manifests(a.source, helm_bin)
    if a.check == "seed-group":
        return check_seed_group(a.source, helm_bin)
    if a.check == "options":
        return check_options(a.source, helm_bin)
    if not a.state_dir:
        ap.error("dry-run needs --state-dir")
    return check_dry_run(a.source, helm_bin, a.state_dir)


if __name__ == "__main__":
    sys.exit(main())
