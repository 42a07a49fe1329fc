#!/usr/bin/env python3
"""Checks of the monitoring mixin in deploy/monitoring (rules, PrometheusRule, dashboards).

  monitoring_check.py consistency
        every alert has a summary, a description, a runbook_url whose section exists in
        docs/operator.md, and promtool tests firing and not firing; every recording rule
        is tested; every promsidecar_* metric the rules and dashboards use is registered
        in src/, and the fleet's are among those the agent sends about itself; the
        PrometheusRule holds exactly the rule file's groups; the dashboards are current
        Grafana JSON
  monitoring_check.py dashboard-parse [--prometheus-binary PATH]
        starts Debian's Prometheus on a free loopback port with an empty TSDB: every
        dashboard query (and variable query) must parse (HTTP 200, a parse error is a
        400), and the data check below must report every one of them as empty
  monitoring_check.py dashboard-data --prometheus URL [--time UNIX] [--rate-interval 5m]
        every dashboard query returns data from that Prometheus (for example the demo's,
        http://127.0.0.1:9090): exit 1 naming each panel whose query returns nothing
  monitoring_check.py helm
        the chart renders no PrometheusRule by default, and with
        monitoring.prometheusRule.enabled the one in deploy/monitoring/prometheusrule.yaml
        (in the chart's namespace, with monitoring.prometheusRule.labels); helm lint passes

Python 3 + PyYAML (Debian's python3-yaml), no other dependency.
"""
import argparse
import glob
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.abspath(os.path.join(HERE, "..", ".."))
RULES = os.path.join("deploy", "monitoring", "promsidecar-rules.yaml")
PROMETHEUS_RULE = os.path.join("deploy", "monitoring", "prometheusrule.yaml")
DASHBOARDS = os.path.join("deploy", "monitoring", "dashboards", "*.json")
RULE_TESTS = os.path.join("test", "monitoring", "rules_test.yaml")
RUNBOOKS_DOC = os.path.join("docs", "operator.md")
RUNBOOK_BASE = "https://github.com/promsidecar/promsidecar/blob/main/docs/operator.md#"
SELF_JOB = 'job="promsidecar-agent"'
MIN_SCHEMA_VERSION = 39


# --- pure: rules, docs, sources, dashboards ---------------------------------


def rules_of(groups_doc):
    """Every rule of a rule file's parsed document, with its group's name."""
    return [(g["name"], r) for g in groups_doc.get("groups", []) for r in g.get("rules", [])]


def github_anchor(heading):
    """GitHub's anchor for a Markdown heading's text."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def runbook_anchors(markdown):
    """Anchors of the level-3 headings inside the level-2 section "Runbooks"."""
    anchors, inside = set(), False
    for line in markdown.splitlines():
        if line.startswith("## "):
            inside = line[3:].strip() == "Runbooks"
        elif inside and line.startswith("### "):
            anchors.add(github_anchor(line[4:]))
    return anchors


def alert_test_coverage(tests_doc):
    """{alertname: (tested firing, tested not firing)} from a promtool test file."""
    out = {}
    for t in tests_doc.get("tests", []):
        for a in t.get("alert_rule_test", []) or []:
            firing, quiet = out.get(a["alertname"], (False, False))
            if a.get("exp_alerts"):
                firing = True
            else:
                quiet = True
            out[a["alertname"]] = (firing, quiet)
    return out


def tested_expressions(tests_doc):
    return {e["expr"].strip() for t in tests_doc.get("tests", []) for e in t.get("promql_expr_test", []) or []}


def check_rule_annotations(rules, anchors):
    problems = []
    for group, r in rules:
        if "alert" not in r:
            continue
        name, ann = r["alert"], r.get("annotations", {})
        for key in ("summary", "description", "runbook_url"):
            if not ann.get(key, "").strip():
                problems.append(f"{RULES}: alert {name} (group {group}) has no annotations.{key}: add one")
        url = ann.get("runbook_url", "")
        want = RUNBOOK_BASE + name.lower()
        if url and url != want:
            problems.append(f"{RULES}: alert {name}: runbook_url is {url}, want {want}")
        if name.lower() not in anchors:
            problems.append(f"{RUNBOOKS_DOC}: no '### {name}' under '## Runbooks': write the alert's runbook there")
        if "severity" not in r.get("labels", {}):
            problems.append(f"{RULES}: alert {name} has no labels.severity: add warning, critical or info")
    return problems


def check_rule_tests(rules, tests_doc):
    problems = []
    coverage = alert_test_coverage(tests_doc)
    tested = tested_expressions(tests_doc)
    for _, r in rules:
        if "alert" in r:
            firing, quiet = coverage.get(r["alert"], (False, False))
            if not firing:
                problems.append(f"{RULE_TESTS}: alert {r['alert']} is never tested firing (an alert_rule_test "
                                "with exp_alerts)")
            if not quiet:
                problems.append(f"{RULE_TESTS}: alert {r['alert']} is never tested not firing (an "
                                "alert_rule_test without exp_alerts)")
        elif r.get("record") not in tested:
            problems.append(f"{RULE_TESTS}: recording rule {r.get('record')} has no promql_expr_test")
    known = {r["alert"] for _, r in rules if "alert" in r}
    for name in sorted(set(coverage) - known):
        problems.append(f"{RULE_TESTS}: tests alert {name}, which {RULES} does not define")
    return problems


# Not the middle of a recording rule's name (level:promsidecar_x:operation).
METRIC_RE = re.compile(r"(?<![\w:])promsidecar_[a-z0-9_]*[a-z0-9](?![\w:])")
HISTOGRAM_SUFFIXES = ("_bucket", "_count", "_sum")


def metric_names(expr):
    return set(METRIC_RE.findall(expr))


def fleet_metric_names(expr):
    """promsidecar_agent_* names the expression selects with job="promsidecar-agent"."""
    return {m.group(1) for m in re.finditer(r"\b(promsidecar_agent_[a-z0-9_]*[a-z0-9])\{([^}]*)\}", expr)
            if SELF_JOB in m.group(2).replace(" ", "")}


def string_literals(cpp):
    """C++ string literals with adjacent ones joined ("a" "b" is "ab"); raw strings ignored."""
    out, current = [], None
    for m in re.finditer(r'"((?:[^"\\\n]|\\.)*)"|(\S)', cpp):
        if m.group(1) is not None:
            current = (current or "") + m.group(1)
        else:
            if current is not None:
                out.append(current)
            current = None
    if current is not None:
        out.append(current)
    return out


def registered_metrics(literals):
    return {s for s in literals if re.fullmatch(r"promsidecar_[a-z0-9_]+", s)}


def self_monitoring_pattern(literals):
    """The agent's regex of the series it sends about itself (a literal "promsidecar_agent_(...)")."""
    for s in literals:
        if s.startswith("promsidecar_agent_(") and s.endswith(")"):
            return re.compile(s)
    return None


def base_metric(name, registered):
    if name in registered:
        return name
    for suffix in HISTOGRAM_SUFFIXES:
        if name.endswith(suffix) and name[: -len(suffix)] in registered:
            return name[: -len(suffix)]
    return None


def check_metrics(exprs, registered, self_pattern):
    """exprs: [(where, expr)]. Names must be registered in src/; fleet names must be self-sent."""
    problems = []
    if self_pattern is None:
        problems.append("src/: no string literal \"promsidecar_agent_(...)\" found: the list of series the agent "
                        "sends about itself (job=\"promsidecar-agent\") moved; update self_monitoring_pattern")
    for where, expr in exprs:
        for name in sorted(metric_names(expr)):
            if base_metric(name, registered) is None:
                problems.append(f"{where}: metric {name} is not registered anywhere in src/")
        for name in sorted(fleet_metric_names(expr)):
            if self_pattern is not None and not self_pattern.fullmatch(name):
                problems.append(f"{where}: {name}{{{SELF_JOB}}} never arrives: the agent does not send {name} "
                                f"about itself (its pattern is {self_pattern.pattern})")
    return problems


def dashboard_targets(dashboard):
    """[(panel title, refId, expr)] of every panel, rows' collapsed panels included."""
    out = []

    def walk(panels):
        for p in panels or []:
            for t in p.get("targets", []) or []:
                if t.get("expr"):
                    out.append((p.get("title", f"panel {p.get('id')}"), t.get("refId", "?"), t["expr"]))
            walk(p.get("panels"))

    walk(dashboard.get("panels"))
    return out


LABEL_VALUES_RE = re.compile(r"^\s*label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$", re.S)


def variable_queries(dashboard):
    """[(variable name, PromQL)]: a query variable's label_values(selector, label) as count by (label)."""
    out = []
    for v in dashboard.get("templating", {}).get("list", []):
        if v.get("type") != "query":
            continue
        q = v.get("query")
        q = q.get("query", "") if isinstance(q, dict) else (q or "")
        m = LABEL_VALUES_RE.match(q)
        out.append((v["name"], f"count by ({m.group(2)}) ({m.group(1)})" if m else q))
    return out


def all_queries(dashboard):
    """[(description, PromQL with Grafana's variables still in)] of a dashboard."""
    title = dashboard.get("title", "?")
    return ([(f"{title}: panel {p!r} query {ref}", e) for p, ref, e in dashboard_targets(dashboard)] +
            [(f"{title}: variable ${n}", q) for n, q in variable_queries(dashboard)])


def substitute(expr, rate_interval="5m", values=None):
    """Replaces Grafana's variables: $__rate_interval and friends by durations, the dashboard's own
    variables (all multi-value or All) by values.get(name, ".*")."""
    builtin = {"__rate_interval": rate_interval, "__interval": "1m", "__range": "1h", "__range_s": "3600",
               "__interval_ms": "60000"}
    values = values or {}

    def repl(m):
        name = m.group(1) or m.group(2)
        if name in builtin:
            return builtin[name]
        return values.get(name, ".*")

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::[a-z]+)?\}|\$([A-Za-z_][A-Za-z0-9_]*)", repl, expr)


def check_dashboard_shape(dashboard, where):
    problems = []
    sv = dashboard.get("schemaVersion", 0)
    if sv < MIN_SCHEMA_VERSION:
        problems.append(f"{where}: schemaVersion {sv}: export it from a current Grafana ({MIN_SCHEMA_VERSION}+)")
    for key in ("uid", "title"):
        if not dashboard.get(key):
            problems.append(f"{where}: no {key}")
    ids = []

    def walk(panels):
        for p in panels or []:
            ids.append(p.get("id"))
            if p.get("type") != "row":
                ds = p.get("datasource") or {}
                if ds.get("uid") != "${datasource}":
                    problems.append(f"{where}: panel {p.get('title')!r} does not use the $datasource variable")
                if not p.get("targets"):
                    problems.append(f"{where}: panel {p.get('title')!r} has no query")
                if not p.get("description"):
                    problems.append(f"{where}: panel {p.get('title')!r} has no description (say what it shows)")
            walk(p.get("panels"))

    walk(dashboard.get("panels"))
    dupes = sorted({i for i in ids if ids.count(i) > 1}, key=str)
    if dupes:
        problems.append(f"{where}: panel ids {dupes} are used twice")
    names = [v.get("name") for v in dashboard.get("templating", {}).get("list", [])]
    if "datasource" not in names:
        problems.append(f"{where}: no datasource variable")
    return problems


# --- I/O ------------------------------------------------------------------------


def read(path):
    with open(os.path.join(SOURCE, path), encoding="utf-8") as f:
        return f.read()


def load_dashboards():
    paths = sorted(glob.glob(os.path.join(SOURCE, DASHBOARDS)))
    if not paths:
        raise SystemExit(f"no dashboard matches {DASHBOARDS}")
    out = []
    for p in paths:
        with open(p, encoding="utf-8") as f:
            out.append((os.path.relpath(p, SOURCE), json.load(f)))
    return out


def source_literals():
    out = []
    for p in glob.glob(os.path.join(SOURCE, "src", "**", "*.cc"), recursive=True) + \
            glob.glob(os.path.join(SOURCE, "src", "**", "*.h"), recursive=True):
        with open(p, encoding="utf-8") as f:
            out += string_literals(f.read())
    return out


def finish(what, problems):
    for p in problems:
        print(f"FAIL: {p}", file=sys.stderr)
    if problems:
        print(f"{what}: {len(problems)} failure(s)", file=sys.stderr)
        return 1
    print(f"{what}: ok")
    return 0


def check_consistency():
    rules_doc = yaml.safe_load(read(RULES))
    rules = rules_of(rules_doc)
    problems = check_rule_annotations(rules, runbook_anchors(read(RUNBOOKS_DOC)))
    problems += check_rule_tests(rules, yaml.safe_load(read(RULE_TESTS)))
    exprs = [(f"{RULES}: {r.get('alert') or r.get('record')}", r["expr"]) for _, r in rules]
    for _, r in rules:
        for key, text in r.get("annotations", {}).items():
            exprs.append((f"{RULES}: {r.get('alert')} annotations.{key}", text))
    for path, d in load_dashboards():
        problems += check_dashboard_shape(d, path)
        exprs += [(f"{path}: {w}", e) for w, e in all_queries(d)]
    literals = source_literals()
    problems += check_metrics(exprs, registered_metrics(literals), self_monitoring_pattern(literals))
    pr = yaml.safe_load(read(PROMETHEUS_RULE))
    if pr.get("kind") != "PrometheusRule" or pr.get("spec") != rules_doc:
        problems.append(f"{PROMETHEUS_RULE}: its spec is not {RULES}'s groups: run deploy/monitoring/generate")
    print(f"{len(rules)} rules, {sum(1 for _, r in rules if 'alert' in r)} alerts, {len(exprs)} expressions checked")
    return finish("monitoring consistency", problems)


def query(url, promql, at=None, timeout=30):
    """(HTTP status, parsed JSON body or None) of GET /api/v1/query."""
    params = {"query": promql}
    if at is not None:
        params["time"] = f"{at:.3f}"
    req = url.rstrip("/") + "/api/v1/query?" + urllib.parse.urlencode(params)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        body = e.read()
        try:
            return e.code, json.loads(body)
        except ValueError:
            return e.code, None


def check_data(url, dashboards, at=None, rate_interval="5m"):
    """Problems: every dashboard query that fails or returns no data."""
    problems, count = [], 0
    for path, d in dashboards:
        for where, expr in all_queries(d):
            count += 1
            promql = substitute(expr, rate_interval)
            status, body = query(url, promql, at)
            if status != 200 or not body or body.get("status") != "success":
                err = (body or {}).get("error", "no JSON body")
                problems.append(f"{where}: HTTP {status}: {err}\n    {promql}")
            elif not body["data"]["result"]:
                problems.append(f"{where}: no data\n    {promql}")
    return problems, count


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Prometheus:
    """Debian's prometheus on a free loopback port with an empty TSDB in a temporary directory."""

    def __init__(self, binary):
        self.dir = tempfile.mkdtemp(prefix="promsidecar-monitoring-")
        with open(os.path.join(self.dir, "prometheus.yml"), "w", encoding="utf-8") as f:
            f.write("global:\n  scrape_interval: 1m\n")
        self.log = open(os.path.join(self.dir, "log"), "w+", encoding="utf-8")
        for _ in range(5):  # another process may take the port between choosing and binding it
            self.port = free_port()
            self.proc = subprocess.Popen(
                [binary, f"--config.file={self.dir}/prometheus.yml", f"--storage.tsdb.path={self.dir}/data",
                 f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
                stdout=self.log, stderr=subprocess.STDOUT)
            if self.wait_ready(deadline=time.monotonic() + 120):
                return
            self.stop()
        self.log.seek(0)
        raise SystemExit(f"{binary} did not become ready; its log:\n{self.log.read()}")

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, deadline):
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                with urllib.request.urlopen(self.url + "/-/ready", timeout=5) as r:
                    if r.status == 200:
                        return True
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.2)
        return False

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def close(self):
        self.stop()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def check_dashboard_parse(binary):
    dashboards = load_dashboards()
    problems = []
    prom = Prometheus(binary)
    try:
        # The probe: a parse error must be a 400 here, or this check could not fail.
        status, _ = query(prom.url, "sum(rate(x[5m])")
        if status != 400:
            problems.append(f"a query that does not parse answered HTTP {status}, want 400: this check is blind")
        queries = [(w, e) for _, d in dashboards for w, e in all_queries(d)]
        for where, expr in queries:
            promql = substitute(expr)
            status, body = query(prom.url, promql)
            if status != 200:
                err = (body or {}).get("error", "no JSON body")
                problems.append(f"{where}: HTTP {status}: {err}\n    {promql}")
        # An empty TSDB has no data: the data check must say so for every query.
        empty, count = check_data(prom.url, dashboards)
        if len(empty) != count:
            problems.append(f"the data check passed {count - len(empty)} of {count} queries against an empty "
                            "TSDB: it cannot fail")
        print(f"{len(queries)} dashboard queries parse on {binary} "
              f"({subprocess.run([binary, '--version'], stdout=subprocess.PIPE, text=True).stdout.split(chr(10))[0]})")
    finally:
        prom.close()
    return finish("dashboard queries parse", problems)


def check_dashboard_data(url, at, rate_interval):
    problems, count = check_data(url, load_dashboards(), at, rate_interval)
    print(f"{count - len(problems)} of {count} dashboard queries return data from {url}")
    return finish("dashboard queries return data", problems)


def check_helm():
    sys.path.insert(0, os.path.join(SOURCE, "test", "deploy"))
    import chart_check  # the deploy tests' helm helpers

    helm_bin = chart_check.build_helm(SOURCE)
    key = ("PrometheusRule", "promsidecar-system", "promsidecar")
    problems = []
    if any(k[0] == "PrometheusRule" for k in chart_check.render(helm_bin, SOURCE)):
        problems.append("the chart renders a PrometheusRule by default (monitoring.prometheusRule.enabled is off)")
    want = yaml.safe_load(read(PROMETHEUS_RULE))
    on = chart_check.render(helm_bin, SOURCE, ["monitoring.prometheusRule.enabled=true"])
    problems += chart_check.compare_objects({key: want}, {k: v for k, v in on.items() if k[0] == "PrometheusRule"},
                                            PROMETHEUS_RULE, "helm template monitoring.prometheusRule.enabled=true")
    moved = chart_check.render(helm_bin, SOURCE, [
        "monitoring.prometheusRule.enabled=true", "monitoring.prometheusRule.labels.release=kube-prometheus-stack",
        "namespace.name=observability", "namespace.create=false"])
    rule = moved.get(("PrometheusRule", "observability", "promsidecar"))
    if rule is None:
        problems.append("namespace.name=observability: no PrometheusRule observability/promsidecar")
    else:
        labels = rule["metadata"].get("labels", {})
        if labels.get("release") != "kube-prometheus-stack":
            problems.append(f"monitoring.prometheusRule.labels not rendered: labels are {labels}")
        if rule["spec"] != want["spec"]:
            problems.append("with other values the PrometheusRule's spec differs from the rule file's groups")
    r = chart_check.render_raw(helm_bin, SOURCE, ["monitoring.prometheusRule.enabled=yes"])
    if r.returncode == 0 or "enabled" not in r.stderr:
        problems.append(f"monitoring.prometheusRule.enabled=yes: want a failure naming enabled, got exit "
                        f"{r.returncode}: {r.stderr.strip()}")
    lint = chart_check.helm(helm_bin, SOURCE, ["lint", "--strict", chart_check.CHART,
                                               "--set", "monitoring.prometheusRule.enabled=true"])
    print(lint.stdout + lint.stderr)
    if lint.returncode != 0:
        problems.append(f"helm lint --strict with monitoring.prometheusRule.enabled=true exited {lint.returncode}")
    return finish("helm PrometheusRule", problems)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("check", choices=["consistency", "dashboard-parse", "dashboard-data", "helm"])
    ap.add_argument("--prometheus", help="dashboard-data: the Prometheus to query, e.g. http://127.0.0.1:9090")
    ap.add_argument("--prometheus-binary", default="/usr/bin/prometheus", help="dashboard-parse: Prometheus to start")
    ap.add_argument("--time", type=float, help="dashboard-data: evaluation time (Unix seconds; default now)")
    ap.add_argument("--rate-interval", default="5m", help="dashboard-data: what $__rate_interval stands for")
    a = ap.parse_args()
    if a.check == "consistency":
        return check_consistency()
    if a.check == "dashboard-parse":
        return check_dashboard_parse(a.prometheus_binary)
    if a.check == "dashboard-data":
        if not a.prometheus:
            ap.error("dashboard-data needs --prometheus URL")
        return check_dashboard_data(a.prometheus, a.time, a.rate_interval)
    return check_helm()


if __name__ == "__main__":
    sys.exit(main())
