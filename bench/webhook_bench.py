"""Webhook benchmark (issues 8 and 14): AdmissionReviews per second at
saturation and the server-side latency of /mutate-pod at a paced 1,000
requests/s, for a pod that gets the sidecar and for one that does not opt in,
in a cluster of realistic size: 1,000 Nodes and 50 PrometheusAgents in the
operator's cache.

The server is bench/webhook_server (the real AdmissionServer with TLS, the
real PodInjectionWebhook and the operator's real informer cache, filled from a
fake API server in the process) pinned to CPU 0 with taskset; the load is wrk
(Debian) with bench/webhook.lua on CPU 1. Latency quantiles come from the
server's own histogram (the interval the operator's latency metric measures:
decode, decide, encode; TLS and HTTP parsing are not in it), whose buckets are
10% apart, interpolated linearly; wrk's client-side percentiles (TLS and HTTP
included) are reported beside them.

With a baseline (bench/run --webhook-baseline REV), the same server source is
also built from commit REV (a git worktree under build/) and both are measured
in the same run, one after the other, side by side in one table.
"""

import json
import os
import re
import shutil
import ssl
import statistics
import subprocess
import tempfile
import time
import urllib.request

from benchlib import BenchError, Proc, cpu_seconds, log

HIST = "bench_webhook_duration_seconds"
# http::Server holds a worker thread per kept-alive connection; more
# connections than workers (the operator's default, 8) would leave the extra
# ones waiting for a worker, not measure the server.
CONNECTIONS = 8


def _pod(namespace, opted_in):
    annotations = {"kubectl.kubernetes.io/restartedAt": "2026-11-20T10:00:00Z"}
    if opted_in:
        annotations.update({"prometheus.operator.io/scrape": "true", "prometheus.operator.io/port": "8080",
                            "prometheus.operator.io/path": "/metrics"})
    sa_volume = "kube-api-access-x7k2p"
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "generateName": "checkout-7d9f8b6c5d-", "namespace": namespace,
            "labels": {"app.kubernetes.io/name": "checkout", "app.kubernetes.io/part-of": "shop",
                       "pod-template-hash": "7d9f8b6c5d"},
            "annotations": annotations,
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "checkout-7d9f8b6c5d",
                                 "uid": "3f6c1d2e-8a4b-4c5d-9e0f-1a2b3c4d5e6f", "controller": True,
                                 "blockOwnerDeletion": True}]},
        "spec": {
            "serviceAccountName": "checkout",
            "containers": [{
                "name": "app", "image": "registry.example.com/shop/checkout:1.42.0",
                "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                "env": [{"name": "LOG_LEVEL", "value": "info"},
                        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
                "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 5},
                "volumeMounts": [{"name": sa_volume, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                                  "readOnly": True}]}],
            # What the ServiceAccount admission plugin adds before webhooks run.
            "volumes": [{"name": sa_volume, "projected": {"defaultMode": 420, "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1",
                                                                               "fieldPath": "metadata.namespace"}}]}},
            ]}}],
            "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst"}}


def _review(pod):
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"},
        "requestKind": {"group": "", "version": "v1", "kind": "Pod"},
        "requestResource": {"group": "", "version": "v1", "resource": "pods"},
        "namespace": pod["metadata"]["namespace"], "operation": "CREATE",
        "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller",
                     "groups": ["system:serviceaccounts", "system:authenticated"]},
        "object": pod, "oldObject": None, "dryRun": False,
        "options": {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"}}}


# The two kinds of pod: (key, table label, opted in, the outcome the server must count)
KINDS = [("injected", "injected pod", True, "injected"),
         ("skipped", "pod not opted in (skipped)", False, "not_applicable")]


def _histogram(text):
    """Cumulative bucket counts of HIST for code 200 as [(le, count)], and the
    counts of samples with another code."""
    buckets, other = {}, 0
    for m in re.finditer(HIST + r'_bucket\{webhook="mutate-pod",code="(\d+)",le="([^"]+)"\} (\d+)', text):
        code, le, n = m.group(1), float(m.group(2)), int(m.group(3))
        if code == "200":
            buckets[le] = n
        elif le == float("inf"):
            other += n
    return sorted(buckets.items()), other


def _outcomes(text):
    out = {}
    for m in re.finditer(r'promsidecar_operator_injections_total\{outcome="([^"]+)",reason="[^"]*"\} (\d+)', text):
        out[m.group(1)] = out.get(m.group(1), 0) + int(m.group(2))
    return out


def quantile(before, after, q):
    """The q-quantile (seconds) of the observations between two cumulative
    histogram snapshots, linearly interpolated inside the bucket."""
    b = dict(before)
    delta = [(le, n - b.get(le, 0)) for le, n in after]
    total = delta[-1][1] if delta else 0
    if total == 0:
        return None
    rank, prev_le, prev_n = q * total, 0.0, 0
    for le, n in delta:
        if n >= rank:
            if le == float("inf"):
                return prev_le
            return prev_le + (le - prev_le) * ((rank - prev_n) / max(1, n - prev_n))
        prev_le, prev_n = le, n
    return prev_le


class Server:
    def __init__(self, build_dir, workdir, pin, nodes, agents, label="server"):
        argv = [os.path.join(build_dir, "bench/webhook_server"), f"--nodes={nodes}", f"--agents={agents}"]
        if pin is not None:
            argv = ["taskset", "-c", str(pin)] + argv
        self.proc = Proc(argv, os.path.join(workdir, f"webhook_server-{label}.log"), read_first_line=True)
        fields = dict(kv.split("=", 1) for kv in self.proc.first_line.split())
        self.port, self.control_port = int(fields["port"]), int(fields["control_port"])
        self.ca, self.namespace = fields["ca"], fields["namespace"]
        self.url = f"https://127.0.0.1:{self.port}/mutate-pod"

    def metrics(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.control_port}/metrics", timeout=10) as r:
            return r.read().decode()

    def quiet_metrics(self):
        """/metrics once no request is in flight (two reads 0.2 s apart agree):
        wrk stops with requests still in the server, whose counter and
        histogram updates would otherwise straddle the snapshot."""
        last = self.metrics()
        for _ in range(100):
            time.sleep(0.2)
            now = self.metrics()
            if now == last:
                return now
            last = now
        raise BenchError("webhook_server kept serving after the load stopped")

    def check(self, body, opted_in):
        """One review by hand: the answer must be allowed, with a patch iff the pod opts in."""
        ctx = ssl.create_default_context(cafile=self.ca)
        req = urllib.request.Request(self.url, data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
            resp = json.loads(r.read())["response"]
        if not resp.get("allowed") or bool(resp.get("patch")) != opted_in:
            raise BenchError(f"webhook_server answered unexpectedly for the {'opted-in' if opted_in else 'plain'} "
                             f"pod: {json.dumps(resp)[:400]}")


def _wrk(url, body_file, seconds, delay_ms, pin):
    # A generous timeout: a slow server (a baseline) is measured, not failed.
    argv = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{max(1, int(round(seconds)))}s", "--timeout", "30s", "--latency",
            "-s", os.path.join(os.path.dirname(os.path.abspath(__file__)), "webhook.lua"), url, "--",
            body_file, str(delay_ms)]
    if pin is not None:
        argv = ["taskset", "-c", str(pin)] + argv
    r = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 90)
    out = r.stdout
    if r.returncode != 0:
        raise BenchError(f"wrk failed (exit {r.returncode}): {r.stderr[-800:]} {out[-800:]}")
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", out)
    if not m:
        raise BenchError(f"cannot read wrk's output: {out[-800:]}")
    unit = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[m.group(3)]
    requests, elapsed = int(m.group(1)), float(m.group(2)) * unit
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if bad or (errors and sum(int(x) for x in errors.groups()) > 0):
        raise BenchError(f"wrk saw failed requests: {out[-800:]}")
    if requests == 0:
        raise BenchError(f"wrk completed no request: {out[-800:]}")
    pct = {}
    for p, v, u in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M):
        pct[int(p)] = float(v) * {"us": 1e-6, "ms": 1e-3, "s": 1.0}[u]
    return {"requests": requests, "seconds": elapsed, "rate": requests / elapsed, "client": pct}


def _phase(server, body_file, seconds, delay_ms, wrk_pin, outcome):
    m0 = server.quiet_metrics()
    cpu0 = cpu_seconds(server.proc.pid)
    w = _wrk(server.url, body_file, seconds, delay_ms, wrk_pin)
    cpu1 = cpu_seconds(server.proc.pid)
    m1 = server.quiet_metrics()
    (h0, other0), (h1, other1) = _histogram(m0), _histogram(m1)
    if other1 != other0:
        raise BenchError(f"webhook_server answered {other1 - other0} reviews with a status other than 200")
    served = (h1[-1][1] if h1 else 0) - (h0[-1][1] if h0 else 0)
    counted = _outcomes(m1).get(outcome, 0) - _outcomes(m0).get(outcome, 0)
    if counted != served:
        raise BenchError(f"expected every review to end {outcome}, but {counted} of {served} did")
    return dict(w, served=served, cpu=(cpu1 - cpu0) / max(served, 1),
                core_share=(cpu1 - cpu0) / w["seconds"],
                p50=quantile(h0, h1, 0.50), p99=quantile(h0, h1, 0.99), p999=quantile(h0, h1, 0.999))


def _measure(ctx, build_dir, label, workdir, server_pin, wrk_pin):
    """Every phase against one server build: {kind: {"sat": [...], "paced": [...]}}."""
    p = ctx.webhook
    server = Server(build_dir, workdir, server_pin, p["nodes"], p["agents"], label)
    results = {k: {"sat": [], "paced": []} for k, *_ in KINDS}
    bodies, sizes = {}, {}
    try:
        for key, _, opted_in, _ in KINDS:
            body = json.dumps(_review(_pod(server.namespace, opted_in))).encode()
            bodies[key] = os.path.join(workdir, f"{label}-{key}.json")
            with open(bodies[key], "wb") as f:
                f.write(body)
            sizes[key] = len(body)
            server.check(body, opted_in)
        _phase(server, bodies["injected"], 1, 0, wrk_pin, "injected")  # warm-up: connections, allocator
        # wrk's delay() pauses before each request, so a connection's cycle is
        # the pause plus the request's own time: a short calibration at the
        # nominal pause measures that time, and the pause is shortened by it.
        cycle_ms = CONNECTIONS * 1000.0 / p["rate"]
        delay_ms = {}
        for key, _, _, outcome in KINDS:
            cal = _phase(server, bodies[key], p["calibrate_s"], cycle_ms, wrk_pin, outcome)
            overhead_ms = CONNECTIONS * 1000.0 / cal["rate"] - cycle_ms
            delay_ms[key] = max(0, round(cycle_ms - overhead_ms))  # wrk takes whole milliseconds
        for i in range(p["runs"]):
            for key, _, _, outcome in KINDS:
                log(f"webhook ({label}): {key}, run {i + 1}/{p['runs']}: saturation {p['saturation_s']:g} s, "
                    f"paced {p['paced_s']:g} s (delay {delay_ms[key]:g} ms)")
                results[key]["sat"].append(_phase(server, bodies[key], p["saturation_s"], 0, wrk_pin, outcome))
                results[key]["paced"].append(_phase(server, bodies[key], p["paced_s"], delay_ms[key], wrk_pin,
                                                    outcome))
    finally:
        server.proc.stop()
    return {"results": results, "delay_ms": delay_ms, "review_bytes": sizes}


def webhook_bench(ctx):
    p = ctx.webhook
    if not shutil.which("wrk"):
        raise BenchError("wrk is not installed (apt-get install -y wrk; scripts/setup installs it)")
    ncpu = len(os.sched_getaffinity(0))
    server_pin, wrk_pin = (0, 1) if ncpu >= 2 and shutil.which("taskset") else (None, None)
    workdir = tempfile.mkdtemp(prefix="webhook-", dir=ctx.workdir)
    variants = [("this tree", ctx.build_dir)]
    baseline = getattr(ctx, "webhook_baseline", None)
    if baseline:
        variants.append((f"baseline {baseline['rev']}", baseline["build_dir"]))
    measured, errors = {}, {}
    try:
        for i, (label, build) in enumerate(variants):
            try:
                measured[label] = _measure(ctx, build, f"v{i}", workdir, server_pin, wrk_pin)
            except BenchError as e:
                if i == 0:
                    raise  # this tree's failure fails the part
                errors[label] = str(e)  # a baseline's is reported in its column
                log(f"webhook ({label}) FAILED: {e}")
    finally:
        if not ctx.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return {"variants": [label for label, _ in variants if label in measured], "failed": errors,
            "measured": measured, "pinned": server_pin is not None, "nodes": p["nodes"], "agents": p["agents"]}


def _fmt(values, fmt):
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    med = statistics.median(values)
    if len(values) == 1:
        return fmt.format(med)
    return f"{fmt.format(med)} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def webhook_table(ctx, res):
    p = ctx.webhook
    columns = [(label, k, klabel) for k, klabel, _, _ in KINDS for label in res["variants"]]
    header = ["metric"] + [f"{klabel}: {label}" for label, _, klabel in columns]
    us = 1e6

    def cell(label, kind, phase, fn, fmt):
        return _fmt([fn(x) for x in res["measured"][label]["results"][kind][phase]], fmt)

    def row(name, phase, fn, fmt):
        return [name] + [cell(label, k, phase, fn, fmt) for label, k, _ in columns]

    rows = [
        row("saturation: reviews/s (server on one core)", "sat", lambda x: x["rate"], "{:.0f}"),
        row("saturation: share of its core the server used", "sat", lambda x: x["core_share"] * 100, "{:.0f}%"),
        row("saturation: reviews/s per full core (1 / server CPU per review)", "sat", lambda x: 1 / x["cpu"],
            "{:.0f}"),
        ["saturation: server-side p50 / p99 µs (queueing included)"] + [
            cell(label, k, "sat", lambda x: x["p50"] * us, "{:.0f}") + " / "
            + cell(label, k, "sat", lambda x: x["p99"] * us, "{:.0f}") for label, k, _ in columns],
        row(f"paced ({p['rate']:,} req/s asked): achieved req/s", "paced", lambda x: x["rate"], "{:.0f}"),
        row("paced: server-side p50 µs", "paced", lambda x: x["p50"] * us, "{:.0f}"),
        row("paced: server-side p99 µs", "paced", lambda x: x["p99"] * us, "{:.0f}"),
        row("paced: server-side p999 µs", "paced", lambda x: x["p999"] * us, "{:.0f}"),
        row("paced: client-side (wrk, TLS + HTTP) p50 µs", "paced", lambda x: x["client"].get(50, 0) * us, "{:.0f}"),
        row("paced: client-side (wrk, TLS + HTTP) p99 µs", "paced", lambda x: x["client"].get(99, 0) * us, "{:.0f}"),
        row("paced: server CPU µs per review", "paced", lambda x: x["cpu"] * us, "{:.0f}"),
        ["paced: wrk delay per connection (calibrated, ms)"] + [
            f"{res['measured'][label]['delay_ms'][k]:g}" for label, k, _ in columns],
        ["AdmissionReview size (bytes)"] + [str(res["measured"][label]["review_bytes"][k]) for label, k, _ in columns],
    ]
    title = (f"Webhook /mutate-pod: bench/webhook_server (real AdmissionServer, TLS, real PodInjectionWebhook, the "
             f"operator's real cache filled from a fake API server: {res['nodes']:,} Nodes, {res['agents']} "
             f"PrometheusAgents)"
             f"{' pinned to CPU 0, wrk on CPU 1' if res['pinned'] else ' (not pinned: one CPU)'}; "
             f"wrk 1 thread x {CONNECTIONS} connections; saturation {p['saturation_s']:g} s, paced "
             f"{p['paced_s']:g} s; {p['runs']} run(s); median (min–max)"
             + (f"; `{res['variants'][1]}` is the same server source built from that commit, measured in the "
                "same run" if len(res["variants"]) > 1 else "")
             + "".join(f"; `{label}` failed: {why.splitlines()[0][:200]}" for label, why in res.get("failed", {}).items()))
    return title, header, rows


def webhook_summary(res):
    """The figures the targets are judged on (this tree): p99 at 1,000/s is the
    worse of the two pods; reviews per core are the injected pod's."""
    r = res["measured"][res["variants"][0]]["results"]
    out = {
        "p99": max(statistics.median([x["p99"] for x in r[k]["paced"]]) for k, *_ in KINDS),
        "paced_rate": min(statistics.median([x["rate"] for x in r[k]["paced"]]) for k, *_ in KINDS),
        "injected_per_core": statistics.median([1 / x["cpu"] for x in r["injected"]["sat"]]),
        "nodes": res["nodes"], "agents": res["agents"],
    }
    if len(res["variants"]) > 1:
        b = res["measured"][res["variants"][1]]["results"]
        out["baseline"] = res["variants"][1]
        out["baseline_p99"] = max(statistics.median([x["p99"] for x in b[k]["paced"]]) for k, *_ in KINDS)
        out["baseline_injected_per_core"] = statistics.median([1 / x["cpu"] for x in b["injected"]["sat"]])
    return out
