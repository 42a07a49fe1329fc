#!/usr/bin/env python3
"""Unit tests of the pure parts of monitoring_check.py (and of deploy/monitoring/generate)."""
import importlib.machinery
import importlib.util
import os
import sys
import unittest

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import monitoring_check as mc  # noqa: E402


def load_generate():
    path = os.path.join(HERE, "..", "..", "deploy", "monitoring", "generate")
    loader = importlib.machinery.SourceFileLoader("generate", path)
    spec = importlib.util.spec_from_loader("generate", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


class SourceScanTest(unittest.TestCase):
    CPP = '''
        r.AddGauge("promsidecar_agent_wal_bytes", "Bytes of WAL on disk.");
        r.AddHistogramFamily("promsidecar_operator_webhook_duration_seconds", "Time", {"webhook"});
        constexpr std::string_view kSelf =
            "promsidecar_agent_(target_up|wal_bytes|"
            "build_info)";
        log::Info("not a \\"promsidecar_metric\\" name");
    '''

    def test_adjacent_literals_join(self):
        lits = mc.string_literals(self.CPP)
        self.assertIn("promsidecar_agent_(target_up|wal_bytes|build_info)", lits)
        self.assertEqual(mc.registered_metrics(lits),
                         {"promsidecar_agent_wal_bytes", "promsidecar_operator_webhook_duration_seconds"})

    def test_self_pattern_and_metric_checks(self):
        lits = mc.string_literals(self.CPP)
        registered = mc.registered_metrics(lits)
        pattern = mc.self_monitoring_pattern(lits)
        self.assertIsNotNone(pattern)
        cases = [
            # (name, expr, substrings of the problems; [] = none)
            ("fleet metric the agent sends", 'promsidecar_agent_wal_bytes{job="promsidecar-agent"}', []),
            ("histogram suffix", "rate(promsidecar_operator_webhook_duration_seconds_bucket[5m])", []),
            ("recording rule names are not metrics", "namespace:promsidecar_wal_bytes:sum", []),
            ("unknown metric", "promsidecar_agent_wal_byte", ["promsidecar_agent_wal_byte is not registered"]),
            ("registered but never sent by the agent", 'promsidecar_agent_target_down{job="promsidecar-agent"}',
             ["promsidecar_agent_target_down{job=\"promsidecar-agent\"} never arrives"]),
            ("not sent, but not asked of the sidecars either", "promsidecar_agent_target_down", []),
        ]
        registered = registered | {"promsidecar_agent_target_down"}
        for name, expr, wanted in cases:
            with self.subTest(name):
                problems = mc.check_metrics([("w", expr)], registered, pattern)
                self.assertEqual(len(problems), len(wanted), problems)
                for w in wanted:
                    self.assertTrue(any(w in p for p in problems), f"{w!r} not in {problems}")

    def test_without_the_self_pattern_it_says_where_to_look(self):
        problems = mc.check_metrics([], set(), None)
        self.assertTrue(problems and "moved" in problems[0], problems)


class RunbooksAndTestsTest(unittest.TestCase):
    def test_anchors_only_under_runbooks(self):
        md = "## Status\n### PromsidecarFoo\n## Runbooks\nintro\n### PromsidecarBar\n### Two Words\n## Next\n### X\n"
        self.assertEqual(mc.runbook_anchors(md), {"promsidecarbar", "two-words"})

    def test_github_anchor(self):
        self.assertEqual(mc.github_anchor("Agent upgrades (`spec.sidecar.updateStrategy`)"),
                         "agent-upgrades-specsidecarupdatestrategy")

    def test_each_alert_needs_firing_and_quiet_tests_and_a_runbook(self):
        rules = mc.rules_of(yaml.safe_load("""
groups:
- name: g
  rules:
  - record: a:b:sum
    expr: sum(b)
  - alert: Tested
    expr: x > 0
    labels: {severity: warning}
    annotations: {summary: s, description: d,
                  runbook_url: "https://github.com/promsidecar/promsidecar/blob/main/docs/operator.md#tested"}
  - alert: OnlyFiring
    expr: y > 0
    annotations: {summary: s}
"""))
        tests = yaml.safe_load("""
tests:
- alert_rule_test:
  - {alertname: Tested, eval_time: 1m}
  - {alertname: Tested, eval_time: 9m, exp_alerts: [{exp_labels: {}}]}
  - {alertname: OnlyFiring, eval_time: 9m, exp_alerts: [{exp_labels: {}}]}
  - {alertname: Gone, eval_time: 1m}
""")
        problems = mc.check_rule_tests(rules, tests)
        for w in ("OnlyFiring is never tested not firing", "a:b:sum has no promql_expr_test",
                  "tests alert Gone"):
            self.assertTrue(any(w in p for p in problems), f"{w!r} not in {problems}")
        self.assertFalse(any("Tested is never" in p for p in problems), problems)
        problems = mc.check_rule_annotations(rules, {"tested"})
        for w in ("OnlyFiring (group g) has no annotations.description", "OnlyFiring (group g) has no "
                  "annotations.runbook_url", "no '### OnlyFiring'", "OnlyFiring has no labels.severity"):
            self.assertTrue(any(w in p for p in problems), f"{w!r} not in {problems}")
        self.assertFalse(any("alert Tested" in p or "### Tested" in p for p in problems), problems)


class DashboardTest(unittest.TestCase):
    DASH = {
        "title": "T", "uid": "t", "schemaVersion": 39,
        "templating": {"list": [
            {"name": "datasource", "type": "datasource"},
            {"name": "namespace", "type": "query",
             "query": {"query": 'label_values(m{job="j", cluster=~"$cluster"}, namespace)'}},
        ]},
        "panels": [
            {"type": "row", "id": 1, "title": "r", "panels": [
                {"type": "stat", "id": 2, "title": "inner", "description": "d",
                 "datasource": {"uid": "${datasource}"}, "targets": [{"refId": "A", "expr": "sum(a)"}]}]},
            {"type": "timeseries", "id": 3, "title": "outer", "description": "d",
             "datasource": {"uid": "${datasource}"},
             "targets": [{"refId": "A", "expr": 'rate(b{namespace=~"$namespace"}[$__rate_interval])'},
                         {"refId": "B", "expr": ""}]},
        ],
    }

    def test_queries_include_collapsed_rows_and_variables(self):
        self.assertEqual(mc.all_queries(self.DASH), [
            ("T: panel 'inner' query A", "sum(a)"),
            ("T: panel 'outer' query A", 'rate(b{namespace=~"$namespace"}[$__rate_interval])'),
            ("T: variable $namespace", 'count by (namespace) (m{job="j", cluster=~"$cluster"})'),
        ])

    def test_substitute(self):
        self.assertEqual(mc.substitute('rate(b{namespace=~"$namespace",x=~"${x:regex}"}[$__rate_interval])', "2m"),
                         'rate(b{namespace=~".*",x=~".*"}[2m])')
        self.assertEqual(mc.substitute('a{c="$cluster"}', values={"cluster": "prod"}), 'a{c="prod"}')

    def test_shape(self):
        self.assertEqual(mc.check_dashboard_shape(self.DASH, "d.json"), [])
        old = dict(self.DASH, schemaVersion=27, panels=self.DASH["panels"] + [
            {"type": "stat", "id": 3, "title": "bad", "datasource": {"uid": "prom"}, "targets": []}])
        problems = mc.check_dashboard_shape(old, "d.json")
        for w in ("schemaVersion 27", "'bad' does not use the $datasource", "'bad' has no query",
                  "'bad' has no description", "panel ids [3]"):
            self.assertTrue(any(w in p for p in problems), f"{w!r} not in {problems}")


class GenerateTest(unittest.TestCase):
    def test_prometheusrule_spec_is_the_rule_file(self):
        gen = load_generate()
        rules = "# header\ngroups:\n- name: g\n  rules:\n  - alert: A\n    expr: |\n      x\n\n      > 0\n"
        doc = yaml.safe_load(gen.render(rules))
        self.assertEqual(doc["kind"], "PrometheusRule")
        self.assertEqual(doc["spec"], yaml.safe_load(rules))


if __name__ == "__main__":
    unittest.main()
