"""Fan-out benchmark (issue 8, part 5), against a real control plane.

Starts its own kube-apiserver + etcd (scripts/cluster up --state-dir in the
work dir, --no-service-account-plugin: no pod runner, no ServiceAccounts
needed), installs the CRD and the operator's RBAC, starts
`promsidecar-operator run --leader-election=false` as its ServiceAccount (a
token, so the audit log tells its requests from ours), one Sidecar
PrometheusAgent admitting the labelled namespaces, then creates N pods across
M namespaces exactly as the webhook leaves them (the output of
`promsidecar-operator inject` for one pod, renamed). No pod runs: the
controller only needs the pod objects.

Measured: the time until every namespace's Secret exists; the operator's
requests (audit log, by verb) and memory while idle; after the agent's
remoteWrite URL changes, the time until every Secret carries the new URL, the
operator's write requests meanwhile (audit log, by resource) and its peak
memory. Pods are created with a small HTTPS client (8 threads, kept-alive
connections, the admin certificate).
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

from benchlib import MIB, REPO, BenchError, Proc, free_port, log, memory

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
            r = subprocess.run([self.script, "--state-dir", self.state_dir, "--control-plane-only", "--no-service-account-plugin", "up"],
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

    def parallel(self, calls, threads=8):
        """Runs (method, path, body) calls on `threads` threads; raises the first failure."""
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
                    self.request(*c)
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


def _injected_pod(ctx, workdir, agent_file, namespace):
    """One app pod as the webhook leaves it, from `promsidecar-operator inject`."""
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "app", "namespace": namespace,
                        "labels": {"app.kubernetes.io/name": "shop"},
                        "annotations": {"prometheus.operator.io/scrape": "true",
                                        "prometheus.operator.io/port": "8080"}},
           "spec": {"containers": [{"name": "app", "image": "registry.example.com/shop:1.0",
                                    "ports": [{"containerPort": 8080}],
                                    "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]}}
    path = os.path.join(workdir, "pod.json")
    with open(path, "w") as f:
        json.dump(pod, f)
    r = subprocess.run([os.path.join(ctx.build_dir, "src/operator/promsidecar-operator"), "inject", "-f", path,
                        "--agent", agent_file, "-n", namespace, "--namespace-labels", "bench=fanout",
                        "--node-version", "v1.34.0", "-o", "json"], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise BenchError(f"promsidecar-operator inject failed: {r.stderr[-800:]}")
    out = json.loads(r.stdout)
    if out.get("metadata", {}).get("labels", {}).get("prometheus.operator.io/injection") != "injected":
        raise BenchError(f"promsidecar-operator inject did not inject the bench pod: {r.stdout[:600]}")
    return out


def _secret_urls(api):
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
        got = _secret_urls(api)
        if all(url in got.get(ns, "") for ns in namespaces):
            return time.monotonic() - start
        if on_poll:
            on_poll()
        time.sleep(0.2)
    return None


def fanout_bench(ctx):
    p = ctx.fanout
    workdir = tempfile.mkdtemp(prefix="fanout-", dir=ctx.workdir)
    cluster = Cluster(os.path.join(workdir, "cluster"))
    operator = None
    try:
        log("fanout: starting a control plane (scripts/cluster up)")
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
        namespaces = [f"bench-{i:03d}" for i in range(p["namespaces"])]
        template = _injected_pod(ctx, workdir, agent_file, namespaces[0])

        # The whole operator, webhooks included (registered by URL: it runs
        # outside the cluster), so its memory is what a replica would use and
        # every pod created below also passes through its /mutate-pod.
        webhook_port = free_port()
        operator = Proc([os.path.join(ctx.build_dir, "src/operator/promsidecar-operator"), "run",
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
        t_start = time.monotonic()
        mark_create = audit.mark()
        api.parallel([("POST", "/api/v1/namespaces",
                       {"apiVersion": "v1", "kind": "Namespace",
                        "metadata": {"name": ns, "labels": {"bench": "fanout"}}}) for ns in namespaces])
        calls = []
        for i in range(p["pods"]):
            ns = namespaces[i % len(namespaces)]
            pod = json.loads(json.dumps(template))
            pod["metadata"]["name"] = f"app-{i:05d}"
            pod["metadata"]["namespace"] = ns
            calls.append(("POST", f"/api/v1/namespaces/{ns}/pods", pod))
        log(f"fanout: creating {p['pods']} pods in {len(namespaces)} namespaces")
        api.parallel(calls)
        created_s = time.monotonic() - t_start
        log(f"fanout: pods created in {created_s:.0f} s; waiting for {len(namespaces)} Secrets")
        peak = {"rss": 0}

        def sample():
            if not operator.alive():
                raise BenchError(f"the operator exited (code {operator.p.returncode}); log: {operator.tail()}")
            m = memory(operator.pid)
            if m["rss"] > peak["rss"]:
                peak.update(m)

        first = _wait_secrets(api, namespaces, url_a, 1800, sample)
        if first is None:
            raise BenchError(f"not every namespace got its Secret within 30 min; operator log: {operator.tail()}")
        first += created_s
        # Idle means after the fan-out settled: the operator also writes an
        # Event per new pod and status updates, which go on after the Secrets.
        settle_start, quiet_since, mark_quiet = time.monotonic(), time.monotonic(), audit.mark()
        settled = None
        while time.monotonic() - settle_start < p.get("settle_max_s", 900):
            time.sleep(2)
            sample()
            end = audit.mark()
            if any(e[0] in WRITES for e in audit.requests(mark_quiet, end)):
                quiet_since = time.monotonic()
            mark_quiet = end
            if time.monotonic() - quiet_since >= 10:
                settled = quiet_since - t_start
                break
        startup_writes = _count([e for e in audit.requests(mark_create) if e[0] in WRITES],
                                lambda v, r: r)
        startup_peak = dict(peak)
        log(f"fanout: idle for {p['idle_s']:g} s")
        mark_idle = audit.mark()
        idle_mem = []
        t_idle = time.monotonic()
        while time.monotonic() - t_idle < p["idle_s"]:
            sample()
            idle_mem.append(memory(operator.pid))
            time.sleep(1)
        idle_requests = audit.requests(mark_idle)
        idle_s = time.monotonic() - t_idle
        idle_last = idle_mem[-1]

        log("fanout: changing the agent's remoteWrite URL")
        peak = {"rss": 0}
        mark_change = audit.mark()
        cluster.kubectl(["patch", "prometheusagent", AGENT, "-n", OPERATOR_NS, "--type=json", "-p",
                         json.dumps([{"op": "replace", "path": "/spec/remoteWrite/0/url", "value": url_b}])])
        changed = _wait_secrets(api, namespaces, url_b, 600, sample)
        if changed is None:
            raise BenchError(f"the Secrets did not all get the new URL within 10 min; log: {operator.tail()}")
        time.sleep(3)  # writes that follow the last Secret (status) belong to the change too
        sample()
        change = audit.requests(mark_change)
        change_writes = [e for e in change if e[0] in WRITES]
        return {
            "pods": p["pods"], "namespaces": len(namespaces), "create_s": created_s, "first_s": first,
            "settled_s": settled, "startup_writes": startup_writes, "startup_peak": startup_peak,
            "idle_s": idle_s, "idle_requests": _count(idle_requests, lambda v, r: v), "idle_mem": idle_last,
            "change_s": changed, "change_writes": _count(change_writes, lambda v, r: f"{v} {r}"),
            "secret_writes": sum(1 for v, r in change_writes if r == "secrets"),
            "change_peak": peak,
        }
    finally:
        if operator:
            operator.stop()
        cluster.stop()
        if not ctx.keep:
            shutil.rmtree(workdir, ignore_errors=True)


def _fmt_counts(d):
    return ", ".join(f"{k} {v}" for k, v in sorted(d.items(), key=lambda kv: -kv[1])) or "none"


def fanout_table(res):
    idle_total = sum(res["idle_requests"].values())
    rows = [
        ["pods (as injected, no pod runner) / namespaces", f"{res['pods']:,} / {res['namespaces']}"],
        ["pod creation (8 client threads)", f"{res['create_s']:.0f} s"],
        ["time from the first pod until every namespace's Secret existed", f"{res['first_s']:.0f} s"],
        ["time from the first pod until the operator's writes stopped (10 s without one)",
         f"{res['settled_s']:.0f} s" if res["settled_s"] is not None else "did not settle (still writing)"],
        ["operator writes until then, by resource", _fmt_counts(res["startup_writes"])],
        ["operator memory peak until then: RSS / RssAnon + private dirty file (MiB)",
         f"{res['startup_peak'].get('rss', 0) / MIB:.1f} / {res['startup_peak'].get('issue_private', 0) / MIB:.1f}"],
        [f"operator requests while idle ({res['idle_s']:.0f} s), by verb",
         f"{idle_total} ({_fmt_counts(res['idle_requests'])})"],
        ["operator memory idle: RSS / RssAnon + private dirty file / PSS (MiB)",
         f"{res['idle_mem']['rss'] / MIB:.1f} / {res['idle_mem']['issue_private'] / MIB:.1f} / "
         f"{res['idle_mem']['pss'] / MIB:.1f}"],
        ["remoteWrite URL changed: time until every Secret carried it", f"{res['change_s']:.1f} s"],
        ["operator write requests during the change (audit log)", _fmt_counts(res["change_writes"])],
        ["... of which Secret writes / namespaces", f"{res['secret_writes']} / {res['namespaces']}"],
        ["operator memory during the change, peak: RSS / RssAnon + private dirty file (MiB)",
         f"{res['change_peak'].get('rss', 0) / MIB:.1f} / {res['change_peak'].get('issue_private', 0) / MIB:.1f}"],
    ]
    title = (f"Fan-out against a real kube-apiserver + etcd: {res['pods']:,} injected pods in {res['namespaces']} "
             "namespaces, one Sidecar agent, `promsidecar-operator run` (leader election off, webhooks served by URL, its "
             "ServiceAccount's RBAC); requests counted from the audit log; one run")
    return title, ["measure", "result"], rows
