#!/usr/bin/env python3
"""Unit tests of the pure parts of chart_check.py and image_check.py."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import chart_check  # noqa: E402
import image_check  # noqa: E402

SA = "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: op\n  namespace: ns\n"
ROLE = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: op\nrules: []\n"


def objects(text):
    return chart_check.index_objects(chart_check.load_documents(text, "t"), "t")


class CompareObjectsTest(unittest.TestCase):
    def test_table(self):
        cases = [
            # (name, expected, actual, problems that must appear (substrings), count)
            ("equal", SA + "---\n" + ROLE, SA + "---\n" + ROLE, [], 0),
            ("order and comments ignored", "# c\n" + SA + "---\n" + ROLE, ROLE + "---\n---\n# other\n" + SA, [], 0),
            ("an empty list is not null", ROLE, ROLE.replace("rules: []", "rules:\n"), ["-rules: []"], 1),
            ("missing object", SA + "---\n" + ROLE, SA, ["ClusterRole op: in e, missing from a"], 1),
            ("extra object", SA, SA + "---\n" + ROLE, ["ClusterRole op: in a, not in e"], 1),
            ("changed field", SA, SA.replace("name: op", "name: op\n  labels: {x: y}"), ["+  labels:"], 1),
            ("same name, other namespace", SA, SA.replace("namespace: ns", "namespace: other"),
             ["ServiceAccount ns/op: in e, missing", "ServiceAccount other/op: in a, not in e"], 2),
        ]
        for name, expected, actual, wanted, count in cases:
            with self.subTest(name):
                problems = chart_check.compare_objects(objects(expected), objects(actual), "e", "a")
                self.assertEqual(len(problems), count, problems)
                for w in wanted:
                    self.assertTrue(any(w in p for p in problems), f"{w!r} not in {problems}")

    def test_duplicate_object_is_an_error(self):
        with self.assertRaisesRegex(ValueError, "ServiceAccount ns/op appears twice"):
            objects(SA + "---\n" + SA)

    def test_non_object_document_is_an_error(self):
        with self.assertRaisesRegex(ValueError, "not a Kubernetes object"):
            chart_check.load_documents("- a\n- b\n", "t")


DOCKERFILE = """\
# comment
FROM debian:bookworm AS build
RUN apt-get update \\
 && apt-get install -y --no-install-recommends \\
      build-essential libfoo-dev \\
 && rm -rf /var/lib/apt/lists/*
RUN cmake --preset release && cmake --build --preset release --target promsidecar-agent

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y libfoo1 ca-certificates; apt install -q libbar2
COPY --from=build /src/build/release/src/agent/promsidecar-agent /usr/local/bin/promsidecar-agent
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/promsidecar-agent", "--x"]
"""


LIST_DOCKERFILE = """\
FROM debian:bookworm AS build
RUN cmake --preset release && cmake --build --preset release --target promsidecar-agent
FROM debian:bookworm-slim
COPY images/agent/packages /tmp/packages
RUN apt-get update \\
 && apt-get install -y --no-install-recommends $(sed 's/#.*//' /tmp/packages) extra \\
 && rm -rf /var/lib/apt/lists/* /tmp/packages
"""


class DockerfileTest(unittest.TestCase):
    def test_stages_and_packages(self):
        stages = image_check.dockerfile_stages(DOCKERFILE)
        self.assertEqual([s[0] for s in stages], ["debian:bookworm AS build", "debian:bookworm-slim"])
        self.assertEqual(image_check.stage_packages(stages[0]), {"build-essential", "libfoo-dev"})
        self.assertEqual(image_check.stage_packages(stages[1]), {"libfoo1", "ca-certificates", "libbar2"})
        self.assertEqual(stages[1][1][-1], ("ENTRYPOINT", '["/usr/local/bin/promsidecar-agent", "--x"]'))

    def test_apt_installed(self):
        cases = [
            ("apt-get install -y a b", ["a", "b"]),
            ("apt-get update && apt-get install --no-install-recommends -y a", ["a"]),
            ("echo install a", []),
            ("apt-get remove a", []),
            ("apt-get install -y 'a' && rm -rf x", ["a"]),
        ]
        for run, want in cases:
            with self.subTest(run):
                self.assertEqual(image_check.apt_installed(run), want)

    def test_package_lists(self):
        stage = image_check.dockerfile_stages(LIST_DOCKERFILE)[-1]
        self.assertEqual(image_check.stage_package_lists(stage), {"images/agent/packages": "/tmp/packages"})
        self.assertEqual(image_check.stage_packages(stage), {"extra"})
        cases = [
            # (name, runtime stage, want)
            ("copied, not installed", "FROM x\nCOPY images/a/packages /tmp/p\nRUN apt-get install -y b\n", {}),
            ("installed, not copied", "FROM x\nRUN apt-get install -y $(sed 's/#.*//' /tmp/p)\n", {}),
            ("copied elsewhere", "FROM x\nCOPY images/a/packages /tmp/q\n"
             "RUN apt-get install -y $(sed 's/#.*//' /tmp/p)\n", {}),
            ("copied from a stage", "FROM x\nCOPY --from=b /p /tmp/p\nRUN apt-get install $(sed 's/#.*//' /tmp/p)\n",
             {}),
            ("both", "FROM x\nCOPY images/a/packages /tmp/p\nRUN apt-get install $(sed 's/#.*//' /tmp/p)\n",
             {"images/a/packages": "/tmp/p"}),
        ]
        for name, text, want in cases:
            with self.subTest(name):
                self.assertEqual(image_check.stage_package_lists(image_check.dockerfile_stages(text)[-1]), want)

    def test_package_list(self):
        self.assertEqual(image_check.package_list("# c\nlibc6\n\n  libfoo1  # why\n"), ["libc6", "libfoo1"])

    def test_version_mismatches(self):
        good = {
            "deploy/30-deployment.yaml": "        image: ghcr.io/promsidecar/promsidecar-operator:v1.2.3\n",
            "deploy/helm/promsidecar/Chart.yaml": "version: 1.2.3\nappVersion: v1.2.3\n",
            "src/operator/inject/inject.h": '  std::string agent_image = "ghcr.io/promsidecar/promsidecar-agent:v1.2.3";\n',
        }
        self.assertEqual(image_check.version_mismatches("1.2.3", good), [])
        self.assertEqual(image_check.project_version("project(promsidecar VERSION 1.2.3 LANGUAGES CXX)\n"), "1.2.3")
        for path in good:
            with self.subTest(path):
                bad = dict(good, **{path: good[path].replace("1.2.3", "1.2.4")})
                problems = image_check.version_mismatches("1.2.3", bad)
                self.assertEqual(len(problems), 1, problems)
                self.assertIn(path, problems[0])
                self.assertIn("v1.2.3", problems[0])
        self.assertEqual(len(image_check.version_mismatches("1.2.3", {})), 3)

    def test_exec_form(self):
        self.assertEqual(image_check.exec_form('["/bin/a", "run"]'), ["/bin/a", "run"])
        self.assertEqual(image_check.exec_form("/bin/a run"), [])


class ToolOutputTest(unittest.TestCase):
    def test_needed_sonames(self):
        out = """
 0x0000000000000001 (NEEDED)             Shared library: [libre2.so.9]
 0x0000000000000001 (NEEDED)             Shared library: [libc.so.6]
 0x000000000000000c (INIT)               0x4000
"""
        self.assertEqual(image_check.needed_sonames(out), ["libre2.so.9", "libc.so.6"])

    def test_ldd_paths(self):
        out = """\tlinux-vdso.so.1 (0x00007ffd)
\tlibre2.so.9 => /lib/x86_64-linux-gnu/libre2.so.9 (0x00007f12)
\t/lib64/ld-linux-x86-64.so.2 (0x00007f34)
\tlibmissing.so.1 => not found
"""
        self.assertEqual(image_check.ldd_paths(out), {"libre2.so.9": "/lib/x86_64-linux-gnu/libre2.so.9"})

    def test_setup_packages(self):
        text = "x=1\npackages=(\n  # build\n  cmake ninja-build # inline\n  libfoo-dev\n)\nother=(a)\n"
        self.assertEqual(image_check.setup_packages(text), ["cmake", "ninja-build", "libfoo-dev"])
        with self.assertRaises(ValueError):
            image_check.setup_packages("nothing here\n")


if __name__ == "__main__":
    unittest.main()
