#!/usr/bin/env python3
"""Checks of the Helm chart deploy/helm/promsidecar against the plain manifests.

  chart_check.py lint                 helm lint --strict passes (default and other modes)
  chart_check.py matches-manifests    default values, --namespace promsidecar-system, render exactly
                                      deploy/*.yaml + deploy/crd/*.yaml but deploy/'s Namespace (which
                                      `helm install --create-namespace` creates; namespace.create=true
                                      renders it as it is)
  chart_check.py seed-group           apiGroup=monitoring.coreos.com: the optional CRD and the flag
  chart_check.py options              the other values (cert-manager, agent namespaces, repair, release
                                      namespace, webhook flags, pod scheduling, PDB, ServiceMonitor, ...)
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
# The release namespace of every render unless a check says otherwise: the
# plain manifests' (helm install -n promsidecar-system --create-namespace).
NAMESPACE = "promsidecar-system"
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


def render_raw(helm_bin, source, sets, namespace=NAMESPACE):
    args = ["template", RELEASE, CHART, "--namespace", namespace]
    for s in sets:
        args += ["--set", s]
    return helm(helm_bin, source, args)


def render(helm_bin, source, sets=(), namespace=NAMESPACE):
    r = render_raw(helm_bin, source, sets, namespace)
    if r.returncode != 0:
        raise SystemExit(f"helm template -n {namespace} {' '.join('--set ' + s for s in sets)} failed:\n{r.stderr}")
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
NAMESPACE_OBJECT = ("Namespace", "", NAMESPACE)
PDB = ("PodDisruptionBudget", NAMESPACE, "promsidecar-operator")
METRICS_SERVICE = ("Service", NAMESPACE, "promsidecar-operator-metrics")
SERVICE_MONITOR = ("ServiceMonitor", NAMESPACE, "promsidecar-operator")
POD_MONITOR = ("PodMonitor", NAMESPACE, "promsidecar-operator")


def check_lint(source, helm_bin):
    c = Checks()
    modes = [
        [],
        ["apiGroup=monitoring.coreos.com"],
        ["certificates.mode=cert-manager"],
        ["repair.enabled=true", "rollout.enabled=true", "agentNamespaces={team-a,team-b}"],
        ["replicas=1", "webhook.failurePolicy=Fail", "webhook.timeoutSeconds=30", "webhook.excludeNamespaces={batch}",
         "imagePullSecrets[0].name=registry", "nodeSelector.pool=system", "priorityClassName=system-cluster-critical",
         "podAnnotations.a=b", "podLabels.team=platform", "monitoring.serviceMonitor.enabled=true"],
        ["monitoring.podMonitor.enabled=true", "namespace.create=true"],
    ]
    for sets in modes:
        args = ["lint", "--strict", CHART, "--namespace", NAMESPACE]
        for s in sets:
            args += ["--set", s]
        r = helm(helm_bin, source, args)
        print(r.stdout + r.stderr)
        c.expect(r.returncode == 0, f"helm {' '.join(args)} exited {r.returncode}")
    return c.finish("helm lint")


def check_matches_manifests(source, helm_bin):
    c = Checks()
    plain = plain_manifests(source)
    # `helm install --create-namespace` creates the release namespace: the chart
    # renders it only when asked, and then as deploy/ has it.
    c.expect(NAMESPACE_OBJECT in plain, f"deploy/ has no {key_text(NAMESPACE_OBJECT)}")
    without_namespace = {k: v for k, v in plain.items() if k != NAMESPACE_OBJECT}
    c.extend(compare_objects(without_namespace, render(helm_bin, source),
                             "deploy/ + deploy/crd/ but the Namespace",
                             f"helm template -n {NAMESPACE} (default values)"))
    created = render(helm_bin, source, ["namespace.create=true"])
    c.extend(compare_objects({NAMESPACE_OBJECT: plain.get(NAMESPACE_OBJECT)},
                             {k: v for k, v in created.items() if k[0] == "Namespace"},
                             "deploy/", f"helm template -n {NAMESPACE} --set namespace.create=true"))
    if c.failures:
        c.failures.append("the chart (deploy/helm/promsidecar) and the plain manifests must change together")
    return c.finish(f"helm template -n {NAMESPACE} with default values == deploy/ + deploy/crd/")


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
    expected = {k: v for k, v in plain.items() if k not in (OWN_CRD, DEPLOYMENT, AGENTS_ROLE, NAMESPACE_OBJECT)}
    rest = {k: v for k, v in seed.items() if k not in (SEED_CRD, DEPLOYMENT, AGENTS_ROLE)}
    c.extend(compare_objects(expected, rest, "deploy/", "helm template apiGroup=monitoring.coreos.com"))
    # The flag is the Deployment's only change.
    if DEPLOYMENT in seed:
        c.expect([a for a in args if a != "--api-group=monitoring.coreos.com"] ==
                 container_args(plain, DEPLOYMENT), "the seed-group Deployment's args differ beyond --api-group")
    return c.finish("helm template apiGroup=monitoring.coreos.com")


def pod_spec(objects, deployment=DEPLOYMENT):
    return objects[deployment]["spec"]["template"]["spec"]


def expect_failure(c, helm_bin, source, sets, field):
    """Rendering with `sets` fails, naming `field` (the value to fix)."""
    r = render_raw(helm_bin, source, sets)
    c.expect(r.returncode != 0 and field in r.stderr,
             f"--set {' --set '.join(sets)}: want a failure naming {field}, "
             f"got exit {r.returncode}: {r.stderr.strip()}")


def check_release_namespace(c, source, helm_bin):
    """helm install -n NS --create-namespace: everything in NS, no Namespace object of the chart's."""
    ns = "observability"
    objects = render(helm_bin, source, namespace=ns)
    c.expect(not any(k[0] == "Namespace" for k in objects),
             f"-n {ns}: the chart renders a Namespace, which would conflict with --create-namespace's")
    stray = [key_text(k) for k in objects if k[1] not in ("", ns)]
    c.expect(not stray, f"-n {ns}: objects outside the release namespace: {stray}")
    subjects = {s["namespace"] for o in objects.values() for s in o.get("subjects", [])}
    c.expect(subjects == {ns}, f"-n {ns}: RBAC subjects in namespaces {sorted(subjects)}")
    deployment = ("Deployment", ns, "promsidecar-operator")
    args = container_args(objects, deployment)
    c.expect(f"--leader-election-namespace={ns}" in args and f"--agent-namespaces={ns}" in args,
             f"-n {ns}: leader election or agent namespace elsewhere in {args}")
    created = render(helm_bin, source, ["namespace.create=true"], namespace=ns)
    c.expect(("Namespace", "", ns) in created, f"-n {ns} --set namespace.create=true renders no Namespace {ns}")


def check_webhook_values(c, source, helm_bin):
    """webhook.failurePolicy, .timeoutSeconds, .excludeNamespaces reach the operator's flags."""
    default_args = container_args(render(helm_bin, source), DEPLOYMENT)
    want = {"--webhook.failure-policy=Ignore", "--webhook.timeout-seconds=5"}
    c.expect(want <= set(default_args), f"default args {default_args} miss {sorted(want - set(default_args))}")
    c.expect(not any(a.startswith("--webhook.exclude-namespaces") for a in default_args),
             f"--webhook.exclude-namespaces passed by default: {default_args}")
    args = container_args(render(helm_bin, source, [
        "webhook.failurePolicy=Fail", "webhook.timeoutSeconds=30", "webhook.excludeNamespaces={batch,istio-system}"]),
        DEPLOYMENT)
    want = {"--webhook.failure-policy=Fail", "--webhook.timeout-seconds=30",
            "--webhook.exclude-namespaces=batch,istio-system"}
    c.expect(want <= set(args), f"args {args} miss {sorted(want - set(args))}")
    c.expect(not {"--webhook.failure-policy=Ignore", "--webhook.timeout-seconds=5"} & set(args),
             f"the default webhook flags are still passed: {args}")
    for bad, field in (("webhook.failurePolicy=Never", "failurePolicy"), ("webhook.timeoutSeconds=0", "timeoutSeconds"),
                       ("webhook.timeoutSeconds=31", "timeoutSeconds"),
                       ("webhook.excludeNamespaces={Team_A}", "excludeNamespaces")):
        expect_failure(c, helm_bin, source, [bad], field)


def check_pod_values(c, source, helm_bin):
    """imagePullSecrets, nodeSelector, tolerations, affinity, priorityClassName, podAnnotations, podLabels."""
    optional = ("imagePullSecrets", "nodeSelector", "tolerations", "priorityClassName")
    default = render(helm_bin, source)
    spec = pod_spec(default)
    c.expect(not set(optional) & spec.keys(), f"rendered by default: {sorted(set(optional) & spec.keys())}")
    template_meta = default[DEPLOYMENT]["spec"]["template"]["metadata"]
    c.expect("annotations" not in template_meta, "the pod template has annotations by default")
    anti = spec.get("affinity", {}).get("podAntiAffinity")
    c.expect(anti is not None, "the default affinity no longer spreads the replicas over nodes")

    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["system"]}]}]}}}
    toleration = {"key": "dedicated", "operator": "Equal", "value": "system", "effect": "NoSchedule"}
    custom = render(helm_bin, source, [
        "imagePullSecrets[0].name=registry", "nodeSelector.pool=system",
        "tolerations[0].key=dedicated", "tolerations[0].operator=Equal", "tolerations[0].value=system",
        "tolerations[0].effect=NoSchedule",
        "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]"
        ".matchExpressions[0].key=pool",
        "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]"
        ".matchExpressions[0].operator=In",
        "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]"
        ".matchExpressions[0].values={system}",
        "priorityClassName=system-cluster-critical", "podAnnotations.example\\.com/owner=platform",
        "podLabels.team=platform", "podLabels.app\\.kubernetes\\.io/name=other"])
    spec = pod_spec(custom)
    c.expect(spec.get("imagePullSecrets") == [{"name": "registry"}],
             f"imagePullSecrets: {spec.get('imagePullSecrets')}")
    c.expect(spec.get("nodeSelector") == {"pool": "system"}, f"nodeSelector: {spec.get('nodeSelector')}")
    c.expect(spec.get("tolerations") == [toleration], f"tolerations: {spec.get('tolerations')}")
    c.expect(spec.get("affinity") == affinity, f"affinity does not replace the default: {spec.get('affinity')}")
    c.expect(spec.get("priorityClassName") == "system-cluster-critical",
             f"priorityClassName: {spec.get('priorityClassName')}")
    meta = custom[DEPLOYMENT]["spec"]["template"]["metadata"]
    c.expect(meta.get("annotations") == {"example.com/owner": "platform"}, f"podAnnotations: {meta.get('annotations')}")
    want_labels = {"app.kubernetes.io/name": "promsidecar-operator", "app.kubernetes.io/part-of": "promsidecar",
                   "team": "platform"}
    c.expect(meta.get("labels") == want_labels,
             f"pod labels {meta.get('labels')}, want {want_labels} (the selector's label must win over podLabels)")
    for bad, field in (("imagePullSecrets[0].secret=registry", "imagePullSecrets"),
                       ("nodeSelector.pool=1", "nodeSelector")):
        expect_failure(c, helm_bin, source, [bad], field)


def check_pdb(c, source, helm_bin):
    """With one replica no PodDisruptionBudget (it would block every drain); with two or more, one stays up."""
    for replicas in (1, 2, 3):
        objects = render(helm_bin, source, [f"replicas={replicas}"])
        pdb = objects.get(PDB)
        if replicas == 1:
            c.expect(pdb is None or pdb["spec"].get("maxUnavailable") == 1,
                     f"replicas=1: the PodDisruptionBudget would block a drain: {pdb and pdb['spec']}")
        elif c.expect(pdb is not None, f"replicas={replicas}: no PodDisruptionBudget"):
            c.expect(pdb["spec"].get("minAvailable") == 1, f"replicas={replicas}: PDB spec {pdb['spec']}")
            selector = pdb["spec"]["selector"]["matchLabels"]
            labels = objects[DEPLOYMENT]["spec"]["template"]["metadata"]["labels"]
            c.expect(selector.items() <= labels.items(), f"the PDB's selector {selector} misses the pods {labels}")


def check_operator_monitors(c, source, helm_bin):
    """monitoring.serviceMonitor / podMonitor: off by default, each scraping the container port `metrics`."""
    default = render(helm_bin, source)
    c.expect(not {METRICS_SERVICE, SERVICE_MONITOR, POD_MONITOR} & default.keys(),
             "a ServiceMonitor, PodMonitor or metrics Service is rendered by default")
    ports = {p["name"] for p in pod_spec(default)["containers"][0]["ports"]}
    c.expect("metrics" in ports, f"the operator container has no port named metrics: {sorted(ports)}")
    pod_labels = default[DEPLOYMENT]["spec"]["template"]["metadata"]["labels"]

    sm = render(helm_bin, source, ["monitoring.serviceMonitor.enabled=true",
                                   "monitoring.serviceMonitor.labels.release=kube-prometheus-stack",
                                   "monitoring.serviceMonitor.interval=30s"])
    service, monitor = sm.get(METRICS_SERVICE), sm.get(SERVICE_MONITOR)
    c.expect(POD_MONITOR not in sm, "serviceMonitor.enabled also renders a PodMonitor")
    if c.expect(service is not None and monitor is not None,
                f"serviceMonitor.enabled renders no {key_text(METRICS_SERVICE)} and {key_text(SERVICE_MONITOR)}"):
        c.expect(monitor["apiVersion"] == "monitoring.coreos.com/v1", f"ServiceMonitor {monitor['apiVersion']}")
        c.expect(service["spec"]["selector"].items() <= pod_labels.items(),
                 f"the metrics Service selects {service['spec']['selector']}, not the operator's pods {pod_labels}")
        c.expect([p.get("targetPort") for p in service["spec"]["ports"] if p["name"] == "metrics"] == ["metrics"],
                 f"the metrics Service's ports {service['spec']['ports']} do not reach the container port metrics")
        selector = monitor["spec"]["selector"]["matchLabels"]
        matched = [key_text(k) for k, o in sm.items() if k[0] == "Service" and k[1] == NAMESPACE
                   and selector.items() <= (o["metadata"].get("labels") or {}).items()]
        c.expect(matched == [key_text(METRICS_SERVICE)], f"the ServiceMonitor's selector {selector} matches {matched}")
        c.expect(monitor["spec"]["endpoints"] == [{"port": "metrics", "path": "/metrics", "interval": "30s"}],
                 f"ServiceMonitor endpoints {monitor['spec']['endpoints']}")
        c.expect(monitor["metadata"]["labels"].get("release") == "kube-prometheus-stack",
                 f"serviceMonitor.labels not rendered: {monitor['metadata']['labels']}")

    pm = render(helm_bin, source, ["monitoring.podMonitor.enabled=true", "monitoring.podMonitor.labels.team=platform"])
    monitor = pm.get(POD_MONITOR)
    c.expect(not {METRICS_SERVICE, SERVICE_MONITOR} & pm.keys(), "podMonitor.enabled also renders a ServiceMonitor")
    if c.expect(monitor is not None, f"podMonitor.enabled renders no {key_text(POD_MONITOR)}"):
        selector = monitor["spec"]["selector"]["matchLabels"]
        c.expect(selector.items() <= pod_labels.items(), f"the PodMonitor selects {selector}, not {pod_labels}")
        c.expect(monitor["spec"]["podMetricsEndpoints"] == [{"port": "metrics", "path": "/metrics"}],
                 f"PodMonitor endpoints {monitor['spec']['podMetricsEndpoints']}")
        c.expect(monitor["metadata"]["labels"].get("team") == "platform",
                 f"podMonitor.labels not rendered: {monitor['metadata']['labels']}")
    expect_failure(c, helm_bin, source,
                   ["monitoring.serviceMonitor.enabled=true", "monitoring.podMonitor.enabled=true"],
                   "monitoring.podMonitor.enabled")
    expect_failure(c, helm_bin, source, ["monitoring.serviceMonitor.interval=often"], "interval")


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
        expect_failure(c, helm_bin, source, [bad], field)
    expect_failure(c, helm_bin, source,
                   ["certificates.mode=cert-manager", "certificates.certManager.issuerRef.kind=Issuer"],
                   "issuerRef.name")

    check_release_namespace(c, source, helm_bin)
    check_webhook_values(c, source, helm_bin)
    check_pod_values(c, source, helm_bin)
    check_pdb(c, source, helm_bin)
    check_operator_monitors(c, source, helm_bin)
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
    # prometheus-operator's kinds (ServiceMonitor) likewise; its Service is checked.
    for sets in (["apiGroup=monitoring.coreos.com"], ["certificates.mode=cert-manager"],
                 ["repair.enabled=true", "rollout.enabled=true"],
                 ["replicas=1", "webhook.failurePolicy=Fail", "webhook.excludeNamespaces={batch}",
                  "imagePullSecrets[0].name=registry", "nodeSelector.pool=system", "tolerations[0].operator=Exists",
                  "podAnnotations.a=b", "podLabels.team=platform", "monitoring.serviceMonitor.enabled=true"]):
        objects = [o for o in render(helm_bin, source, sets).values()
                   if not o["apiVersion"].startswith(("cert-manager.io/", "monitoring.coreos.com/"))]
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
