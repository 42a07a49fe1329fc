"""Fan-out benchmark (issues 8 and 14): the operator at cluster scale, against
a real control plane.

For each size (1,000, 10,000 and 30,000 pods by default, always in 100
namespaces) a fresh kube-apiserver + etcd is started (scripts/cluster up
--state-dir in the work dir, --control-plane-only, audit log at Metadata
level), the CRD and the operator's RBAC from deploy/ are installed, and the
release `promsidecar-operator run --leader-election=false` runs as its
ServiceAccount (a token: the audit log tells its requests from ours), with its
webhooks registered by URL. One Sidecar PrometheusAgent, the cluster default,
admits the namespaces labelled `bench=fanout`. The pods are created as a
Deployment would send them (annotated, not injected) by a small HTTPS client
(8 threads, the admin certificate), so every one passes the operator's
/mutate-pod; each answer is checked to carry the injection. No pod runs: the
operator only needs the pod objects.

Measured per size:
  - operator memory: VmHWM (the kernel's peak RSS over the process's life) after
    the creation phase and after the change, RSS / RssAnon while idle;
  - operator CPU seconds (utime + stime) for the creation phase (first pod to
    the operator's writes settling) and for one remoteWrite change (the patch
    to every Secret carrying the new URL, plus what follows within 3 s);
  - the operator's API requests from the audit log: writes by resource during
    creation (what scales with pods would show here), requests while idle, and
    writes during the change.
"""

import base64
import http.client
import json
import os
import queue
import shutil
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.parse

from benchlib import MIB, REPO, BenchError, Proc, cpu_seconds, free_port, log, memory

OPERATOR_NS = "promsidecar-system"
OPERATOR_USER = f"system:serviceaccount:{OPERATOR_NS}:promsidecar-operator"
AGENT = "fanout"
SECRET = f"promsidecar-{OPERATOR_NS}.{AGENT}"
WRITES = {"create", "update", "patch", "delete", "deletecollection"}


class Cluster:
    """A private control plane in `state_dir`, always stopped by `down`."""

    def __init__(self, state_dir):
        self.script = os.path.join(REPO, "scripts", "cluster")
        self.state_dir = state_dir
        self.up = False

    def start(self, log_path):
        with open(log_path, "ab") as f:
            r = subprocess.run([self.script, "--state-dir", self.state_dir, "--control-plane-only",
                                "--no-service-account-plugin", "up"],
                               stdout=f, stderr=subprocess.STDOUT, timeout=1800)
        self.up = True  # `down` is safe whatever `up` got to
        if r.returncode != 0:
            raise BenchError(f"scripts/cluster up failed (exit {r.returncode}); log {log_path}")
        self.env = {}
        with open(os.path.join(self.state_dir, "env")) as f:
            for line in f:
                if line.startswith("export ") and "=" in line:
                    k, v = line[len("export "):].strip().split("=", 1)
                    self.env[k] = v.strip("'\"")

    def stop(self):
        if self.up:
            subprocess.run([self.script, "--state-dir", self.state_dir, "down"], capture_output=True, timeout=120)
            self.up = False

    def kubectl(self, args, stdin=None, check=True):
        r = subprocess.run([self.env["KUBECTL"], "--kubeconfig", self.env["KUBECONFIG"]] + args, input=stdin,
                           capture_output=True, text=True, timeout=300)
        if check and r.returncode != 0:
            raise BenchError(f"kubectl {' '.join(args[:3])} failed: {r.stderr[-800:]}")
        return r.stdout


class Api:
    """Kept-alive HTTPS connections to the apiserver as admin, one per thread."""

    def __init__(self, env):
        self.host, self.port = urllib.parse.urlparse(env["APISERVER_URL"]).netloc.rsplit(":", 1)
        self.ssl = ssl.create_default_context(cafile=env["CLUSTER_CA"])
        self.ssl.load_cert_chain(env["ADMIN_CERT"], env["ADMIN_KEY"])
        self.local = threading.local()

    def request(self, method, path, body=None, ok=(200, 201)):
        for attempt in range(5):
            conn = getattr(self.local, "conn", None)
            if conn is None:
                conn = self.local.conn = http.client.HTTPSConnection(self.host, int(self.port), context=self.ssl,
                                                                     timeout=60)
            try:
                data = json.dumps(body).encode() if body is not None else None
                conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
                r = conn.getresponse()
                payload = r.read()
            except (OSError, http.client.HTTPException):
                conn.close()
                self.local.conn = None
                time.sleep(0.5 * (attempt + 1))
                continue
            if r.status in ok:
                return json.loads(payload) if payload else None
            if r.status in (429, 500, 503, 504):
                time.sleep(0.5 * (attempt + 1))
                continue
            raise BenchError(f"{method} {path}: HTTP {r.status}: {payload[:400].decode(errors='replace')}")
        raise BenchError(f"{method} {path}: gave up after 5 attempts")

    def parallel(self, calls, threads=8, check=None):
        """Runs (method, path, body) calls on `threads` threads; `check(answer)`
        on each answer; raises the first failure."""
        work, errors = queue.Queue(), []
        for c in calls:
            work.put(c)

        def worker():
            while not errors:
                try:
                    c = work.get_nowait()
                except queue.Empty:
                    return
                try:
                    answer = self.request(*c)
                    if check:
                        check(answer)
                except BenchError as e:
                    errors.append(e)

        ts = [threading.Thread(target=worker) for _ in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        if errors:
            raise errors[0]


class Audit:
    """Counts the operator's requests in the audit log between two offsets."""

    def __init__(self, path):
        self.path = path

    def mark(self):
        try:
            return os.path.getsize(self.path)
        except OSError:
            return 0

    def requests(self, start, end=None, user=OPERATOR_USER):
        """One entry per request (audit ID) by `user` in [start, end) bytes."""
        seen = {}
        with open(self.path, "rb") as f:
            f.seek(start)
            data = f.read((end - start) if end is not None else -1)
        for line in data.splitlines():
            try:
                e = json.loads(line)
            except ValueError:
                continue  # a line cut by the offset
            if e.get("user", {}).get("username") != user:
                continue
            ref = e.get("objectRef", {})
            resource = ref.get("resource", "") + ("/" + ref["subresource"] if ref.get("subresource") else "")
            seen[e.get("auditID")] = (e.get("verb", ""), resource)
        return list(seen.values())


def _count(entries, key):
    out = {}
    for verb, resource in entries:
        k = key(verb, resource)
        out[k] = out.get(k, 0) + 1
    return out


def _agent_yaml(url):
    return (f"apiVersion: promsidecar.io/v1alpha1\nkind: PrometheusAgent\nmetadata:\n  name: {AGENT}\n"
            f"  namespace: {OPERATOR_NS}\nspec:\n  mode: Sidecar\n  externalLabels:\n    cluster: bench\n"
            f"  remoteWrite:\n  - url: {url}\n  sidecar:\n    default: true\n    namespaceSelector:\n"
            "      matchLabels:\n        bench: fanout\n")


def _app_pod(namespace, name):
    """An app pod as a Deployment's ReplicaSet sends it: opted in, not injected."""
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace,
                         "labels": {"app.kubernetes.io/name": "shop", "pod-template-hash": "7d9f8b6c5d"},
                         "annotations": {"prometheus.operator.io/scrape": "true",
                                         "prometheus.operator.io/port": "8080"}},
            "spec": {"containers": [{"name": "app", "image": "registry.example.com/shop:1.0",
                                     "ports": [{"containerPort": 8080}],
                                     "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]}}


def _secret_data(api):
    """{namespace: whole rendered Secret data, decoded} for every rendered Secret of the agent."""
    sel = urllib.parse.quote(f"metadata.name={SECRET}")
    items = api.request("GET", f"/api/v1/secrets?fieldSelector={sel}")["items"]
    out = {}
    for s in items:
        text = "".join(base64.b64decode(v).decode(errors="replace") for v in (s.get("data") or {}).values())
        out[s["metadata"]["namespace"]] = text
    return out


def _wait_secrets(api, namespaces, url, timeout, on_poll=None):
    """Seconds until every namespace's Secret mentions `url` (None on timeout)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        got = _secret_data(api)
        if all(url in got.get(ns, "") for ns in namespaces):
            return time.monotonic() - start
        if on_poll:
            on_poll()
        time.sleep(0.2)
    return None


def _run_size(ctx, operator_binary, pods, namespaces_n, workdir):
    p = ctx.fanout
    cluster = Cluster(os.path.join(workdir, "cluster"))
    operator = None
    try:
        log(f"fanout {pods:,}: starting a control plane (scripts/cluster up --control-plane-only)")
        cluster.start(os.path.join(workdir, "cluster.log"))
        api = Api(cluster.env)
        audit = Audit(cluster.env["AUDIT_LOG"])
        for f in ["deploy/crd/promsidecar.io_prometheusagents.yaml", "deploy/00-namespace.yaml",
                  "deploy/10-serviceaccount.yaml", "deploy/20-rbac.yaml"]:
            cluster.kubectl(["apply", "-f", os.path.join(REPO, f)])
        cluster.kubectl(["wait", "--for=condition=Established", "--timeout=120s",
                         "crd/prometheusagents.promsidecar.io"])
        token = cluster.kubectl(["create", "token", "promsidecar-operator", "-n", OPERATOR_NS,
                                 "--duration=24h"]).strip()
        kubeconfig = os.path.join(workdir, "operator.kubeconfig")
        with open(kubeconfig, "w") as f:
            f.write(f"apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n"
                    f"    server: {cluster.env['APISERVER_URL']}\n    certificate-authority: {cluster.env['CLUSTER_CA']}\n"
                    f"users:\n- name: op\n  user:\n    token: {token}\ncontexts:\n- name: op\n  context:\n"
                    f"    cluster: c\n    user: op\n    namespace: {OPERATOR_NS}\ncurrent-context: op\n")
        url_a, url_b = "https://metrics-a.example.com/api/v1/write", "https://metrics-b.example.com/api/v1/write"
        agent_file = os.path.join(workdir, "agent.yaml")
        with open(agent_file, "w") as f:
            f.write(_agent_yaml(url_a))
        namespaces = [f"bench-{i:03d}" for i in range(namespaces_n)]

        # The whole operator, webhooks included (registered by URL: it runs
        # outside the cluster), so its memory and CPU are what a replica
        # would use and every pod created below passes through its /mutate-pod.
        webhook_port = free_port()
        operator = Proc([operator_binary, "run",
                         f"--kubeconfig={kubeconfig}", f"--agent-namespaces={OPERATOR_NS}",
                         f"--operator-namespace={OPERATOR_NS}", "--leader-election=false",
                         f"--metrics-address=127.0.0.1:{free_port()}", f"--health-address=127.0.0.1:{free_port()}",
                         f"--webhook.listen-address=127.0.0.1:{webhook_port}",
                         f"--webhook.url=https://127.0.0.1:{webhook_port}",
                         f"--webhook.generated-cert-dir={os.path.join(workdir, 'webhook-certs')}",
                         "--log.level=warn"], os.path.join(workdir, "operator.log"))
        # The validating webhook (failurePolicy Fail) answers once the
        # operator has registered it and serves: retry until then.
        deadline = time.monotonic() + 180
        while True:
            r = subprocess.run([cluster.env["KUBECTL"], "--kubeconfig", cluster.env["KUBECONFIG"], "apply", "-f",
                                agent_file], capture_output=True, text=True, timeout=120)
            if r.returncode == 0:
                break
            if not operator.alive() or time.monotonic() > deadline:
                raise BenchError(f"cannot create the PrometheusAgent: {r.stderr[-600:]}; operator log: "
                                 f"{operator.tail()}")
            time.sleep(1)
        time.sleep(2)  # the agent in the operator's cache before the first pod

        def alive():
            if not operator.alive():
                raise BenchError(f"the operator exited (code {operator.p.returncode}); log: {operator.tail()}")

        injected = {"n": 0, "missed": 0}
        lock = threading.Lock()

        def check(answer):
            # A pod admitted without the sidecar: the API server gave up on the
            # webhook (its timeout) and failurePolicy Ignore let the pod in.
            # Counted and reported (the repair report's case), not a failure.
            ok = answer.get("metadata", {}).get("labels", {}).get("prometheus.operator.io/injection") == "injected"
            with lock:
                injected["n" if ok else "missed"] += 1

        cpu0 = cpu_seconds(operator.pid)
        t_start = time.monotonic()
        mark_create = audit.mark()
        api.parallel([("POST", "/api/v1/namespaces",
                       {"apiVersion": "v1", "kind": "Namespace",
                        "metadata": {"name": ns, "labels": {"bench": "fanout"}}}) for ns in namespaces])
        time.sleep(2)  # the namespaces' labels in the operator's cache before their first pod
        calls = [("POST", f"/api/v1/namespaces/{namespaces[i % len(namespaces)]}/pods",
                  _app_pod(namespaces[i % len(namespaces)], f"app-{i:05d}")) for i in range(pods)]
        log(f"fanout {pods:,}: creating the pods in {len(namespaces)} namespaces through the webhook")
        api.parallel(calls, check=check)
        created_s = time.monotonic() - t_start
        alive()
        log(f"fanout {pods:,}: {pods:,} pods created in {created_s:.0f} s ({injected['missed']} admitted without the "
            f"sidecar); waiting for {len(namespaces)} Secrets")
        first = _wait_secrets(api, namespaces, url_a, 1800, alive)
        if first is None:
            raise BenchError(f"not every namespace got its Secret within 30 min; operator log: {operator.tail()}")
        first += created_s
        # The creation phase ends when the operator's writes have stopped for
        # 15 s (status writes are coalesced, at most one per 10 s).
        settle_start, quiet_since, mark_quiet = time.monotonic(), time.monotonic(), audit.mark()
        settled = None
        while time.monotonic() - settle_start < p.get("settle_max_s", 900):
            time.sleep(2)
            alive()
            end = audit.mark()
            if any(e[0] in WRITES for e in audit.requests(mark_quiet, end)):
                quiet_since = time.monotonic()
            mark_quiet = end
            if time.monotonic() - quiet_since >= 15:
                settled = quiet_since - t_start
                break
        create_cpu = cpu_seconds(operator.pid) - cpu0
        create_writes = _count([e for e in audit.requests(mark_create) if e[0] in WRITES], lambda v, r: r)
        create_hwm = memory(operator.pid)["hwm"]

        log(f"fanout {pods:,}: idle for {p['idle_s']:g} s")
        mark_idle = audit.mark()
        t_idle = time.monotonic()
        time.sleep(p["idle_s"])
        alive()
        idle_requests = audit.requests(mark_idle)
        idle_s = time.monotonic() - t_idle
        idle_mem = memory(operator.pid)

        log(f"fanout {pods:,}: changing the agent's remoteWrite URL")
        mark_change = audit.mark()
        cpu1 = cpu_seconds(operator.pid)
        cluster.kubectl(["patch", "prometheusagent", AGENT, "-n", OPERATOR_NS, "--type=json", "-p",
                         json.dumps([{"op": "replace", "path": "/spec/remoteWrite/0/url", "value": url_b}])])
        changed = _wait_secrets(api, namespaces, url_b, 600, alive)
        if changed is None:
            raise BenchError(f"the Secrets did not all get the new URL within 10 min; log: {operator.tail()}")
        time.sleep(3)  # writes that follow the last Secret (status) belong to the change too
        change_cpu = cpu_seconds(operator.pid) - cpu1
        change_writes = [e for e in audit.requests(mark_change) if e[0] in WRITES]
        end_mem = memory(operator.pid)
        return {
            "pods": pods, "namespaces": len(namespaces), "injected": injected["n"], "missed": injected["missed"],
            "create_s": created_s,
            "first_s": first, "settled_s": settled, "create_cpu": create_cpu, "create_writes": create_writes,
            "create_hwm": create_hwm, "idle_s": idle_s, "idle_requests": _count(idle_requests, lambda v, r: v),
            "idle_mem": idle_mem, "change_s": changed, "change_cpu": change_cpu,
            "change_writes": _count(change_writes, lambda v, r: f"{v} {r}"),
            "secret_writes": sum(1 for v, r in change_writes if r == "secrets"), "end_hwm": end_mem["hwm"],
        }
    finally:
        if operator:
            operator.stop()
        cluster.stop()


def fanout_bench(ctx):
    """Every size with this tree's operator; with a baseline (bench/run
    --fanout-baseline REV), its sizes again with that commit's operator."""
    p = ctx.fanout
    runs = [("this tree", os.path.join(ctx.build_dir, "src/operator/promsidecar-operator"), p["sizes"])]
    baseline = getattr(ctx, "fanout_baseline", None)
    if baseline:
        runs.append((f"baseline {baseline['rev']}",
                     os.path.join(baseline["build_dir"], "src/operator/promsidecar-operator"), baseline["sizes"]))
    results = []
    for label, binary, sizes in runs:
        for pods in sizes:
            workdir = tempfile.mkdtemp(prefix=f"fanout-{pods}-", dir=ctx.workdir)
            try:
                r = _run_size(ctx, binary, pods, p["namespaces"], workdir)
                r["label"] = label
                results.append(r)
            finally:
                if not ctx.keep:
                    shutil.rmtree(workdir, ignore_errors=True)
    return {"sizes": results}


def _fmt_counts(d):
    return ", ".join(f"{k} {v}" for k, v in sorted(d.items(), key=lambda kv: -kv[1])) or "none"


def fanout_table(res):
    sizes = res["sizes"]

    def row(label, fn):
        return [label] + [fn(r) for r in sizes]

    rows = [
        row("pods (created through the operator's webhook) / namespaces",
            lambda r: f"{r['pods']:,} / {r['namespaces']}"),
        row("pod creation (8 client threads), s", lambda r: f"{r['create_s']:.0f}"),
        row("pods admitted without the sidecar (the API server's webhook call timed out)",
            lambda r: f"{r.get('missed', 0)}"),
        row("first pod until every namespace's Secret existed, s", lambda r: f"{r['first_s']:.0f}"),
        row("first pod until the operator's writes stopped (15 s without one), s",
            lambda r: f"{r['settled_s']:.0f}" if r["settled_s"] is not None else "did not settle"),
        row("operator CPU s, creation phase (webhook reviews, watch events, reconciles)",
            lambda r: f"{r['create_cpu']:.1f}"),
        row("operator writes during creation, by resource", lambda r: _fmt_counts(r["create_writes"])),
        row("... of which scale with pods (events, pods) / per pod",
            lambda r: f"{_per_pod_writes(r)} / {_per_pod_writes(r) / r['pods']:.3f}"),
        row("operator memory peak (VmHWM) after creation, MiB", lambda r: f"{r['create_hwm'] / MIB:.1f}"),
        row("operator memory idle: RSS / RssAnon, MiB",
            lambda r: f"{r['idle_mem']['rss'] / MIB:.1f} / {r['idle_mem']['rss_anon'] / MIB:.1f}"),
        row("operator requests while idle, by verb",
            lambda r: f"{sum(r['idle_requests'].values())} in {r['idle_s']:.0f} s ({_fmt_counts(r['idle_requests'])})"),
        row("remoteWrite URL changed: time until every Secret carried it, s", lambda r: f"{r['change_s']:.1f}"),
        row("operator CPU s for the change", lambda r: f"{r['change_cpu']:.2f}"),
        row("operator writes during the change", lambda r: _fmt_counts(r["change_writes"])),
        row("... of which Secret writes / namespaces", lambda r: f"{r['secret_writes']} / {r['namespaces']}"),
        row("operator memory peak (VmHWM) at the end, MiB", lambda r: f"{r['end_hwm'] / MIB:.1f}"),
    ]
    title = (f"Fan-out against a real kube-apiserver + etcd: pods in {sizes[0]['namespaces']} namespaces created "
             "through the operator's webhook, one Sidecar agent, `promsidecar-operator run` (leader election off, webhooks served by URL, "
             "its ServiceAccount's RBAC), a fresh control plane and operator per size; requests counted from the "
             "audit log; one run per size")
    return title, ["measure"] + [f"{r['pods']:,} pods" + ("" if r.get("label", "this tree") == "this tree"
                                                          else f" ({r['label']})") for r in sizes], rows


def _per_pod_writes(r):
    """Operator writes that grow with the number of pods: Events and writes to pods."""
    return sum(n for res, n in r["create_writes"].items() if res.startswith("events") or res.startswith("pods"))


def fanout_summary(res):
    """What the targets are judged on (this tree's runs)."""
    mine = [r for r in res["sizes"] if r.get("label", "this tree") == "this tree"]
    by = {r["pods"]: r for r in mine}
    out = {"sizes": sorted(by)}
    if 10000 in by:
        r = by[10000]
        out["hwm_10k"] = max(r["create_hwm"], r["end_hwm"])
        out["create_cpu_10k"] = r["create_cpu"]
    if 10000 in by and 30000 in by:
        out["kib_per_pod_10k_30k"] = (max(by[30000]["create_hwm"], by[30000]["end_hwm"]) - out["hwm_10k"]) / 1024 / 20000
    out["per_pod_writes"] = max(_per_pod_writes(r) / r["pods"] for r in mine)
    out["secret_writes_ok"] = all(r["secret_writes"] == r["namespaces"] for r in mine)
    out["secret_writes"] = [(r["pods"], r["secret_writes"], r["namespaces"]) for r in mine]
    return out
