#!/usr/bin/env python3
"""Unit tests of the pure parts of chart_check.py and image_check.py."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import tarfile  # noqa: E402

import chart_check  # noqa: E402
import image_check  # noqa: E402
import images_check  # noqa: E402

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


def entry(path, mode=0o755, mtime=0, kind=tarfile.REGTYPE):
    info = tarfile.TarInfo(path)
    info.mode, info.mtime, info.type = mode, mtime, kind
    return (path, info)


AGENT_REF = "ghcr.io/promsidecar/promsidecar-agent:v0.1.0"


def good_image():
    index = {"manifests": [{"annotations": {"org.opencontainers.image.ref.name": AGENT_REF}}]}
    config = {"created": "1970-01-01T00:00:00Z", "history": [{"created": "1970-01-01T00:00:00Z"}],
              "config": {"User": "65532:65532", "Entrypoint": ["/usr/local/bin/promsidecar-agent"]}}
    layers = [[entry("etc/", kind=tarfile.DIRTYPE), entry("etc/passwd", 0o644)],
              [entry("usr/local/bin/promsidecar-agent")]]
    return index, config, layers


class ImagesCheckTest(unittest.TestCase):
    def test_image_problems(self):
        def no_user(index, config, layers):
            config["config"]["User"] = ""

        def root(index, config, layers):
            config["config"]["User"] = "0:0"

        def named_user(index, config, layers):
            config["config"]["User"] = "nonroot"

        def wrong_ref(index, config, layers):
            index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] = "promsidecar-agent:v0.1.0"

        def two_refs(index, config, layers):
            index["manifests"].append(index["manifests"][0])

        def created_now(index, config, layers):
            config["history"][0]["created"] = "2026-01-01T00:00:00Z"

        def mtime(index, config, layers):
            layers[0].append(entry("etc/group", 0o644, mtime=1700000000))

        def group_writable(index, config, layers):
            layers[0][0] = entry("etc/", 0o775, kind=tarfile.DIRTYPE)

        def tmp_and_links(index, config, layers):
            layers[0] += [entry("tmp/", 0o1777, kind=tarfile.DIRTYPE), entry("lib64/ld.so", 0o777, kind=tarfile.SYMTYPE)]

        def shell(index, config, layers):
            layers[0].append(entry("bin/sh", kind=tarfile.SYMTYPE))

        def dpkg(index, config, layers):
            layers[0].append(entry("./usr/bin/dpkg"))

        def not_executable(index, config, layers):
            layers[1] = [entry("usr/local/bin/promsidecar-agent", 0o644)]

        def no_entrypoint(index, config, layers):
            layers.pop()

        cases = [
            # (name, change, image name, wanted substring; None: no problem)
            ("good", lambda *a: None, "agent", None),
            ("no user", no_user, "agent", "USER is ''"),
            ("root", root, "agent", "USER is '0:0'"),
            ("a user name", named_user, "agent", "numeric non-root"),
            ("short reference", wrong_ref, "agent", "want ['ghcr.io"),
            ("two references", two_refs, "agent", "the archive names"),
            ("a creation time", created_now, "agent", "creation time"),
            ("an mtime", mtime, "agent", "etc/group has mtime 1700000000"),
            ("group-writable", group_writable, "agent", "etc/ has mode 775"),
            ("/tmp and symlinks may be", tmp_and_links, "agent", None),
            ("a shell", shell, "agent", "holds /bin/sh"),
            ("a shell in the operator", shell, "operator", "holds /bin/sh"),
            ("a shell in the sample app", shell, "sampleapp", None),
            ("a package manager", dpkg, "agent-next", "holds /usr/bin/dpkg"),
            ("entrypoint not executable", not_executable, "agent", "not an executable file"),
            ("entrypoint missing", no_entrypoint, "agent", "not an executable file"),
        ]
        for name, change, image, wanted in cases:
            with self.subTest(name):
                index, config, layers = good_image()
                change(index, config, layers)
                problems = images_check.image_problems(image, AGENT_REF, index, config, layers)
                if wanted is None:
                    self.assertEqual(problems, [])
                else:
                    self.assertEqual(len(problems), 1, problems)
                    self.assertIn(wanted, problems[0])

    def test_table_and_digests(self):
        header = "name\treference\tdigest\tcompressed_bytes\tuncompressed_bytes\tarchive\n"
        a = images_check.read_table(header + "agent\tr\tsha256:1\t10\t20\t/a\npause\tp\tsha256:2\t1\t2\t/p\n")
        self.assertEqual(a["agent"]["compressed_bytes"], "10")
        self.assertEqual(images_check.digest_differences(a, a), [])
        b = images_check.read_table(header + "agent\tr\tsha256:3\t10\t20\t/a\n")
        problems = images_check.digest_differences(a, b)
        self.assertEqual(len(problems), 2, problems)
        self.assertIn("agent: digest sha256:1 in one build, sha256:3", problems[0])
        self.assertIn("pause: digest sha256:2 in one build, None", problems[1])
        a["agent"]["inputs"], b["agent"]["inputs"] = "x", "y"
        self.assertIn("different inputs", images_check.digest_differences(a, b)[0])
        b["agent"]["inputs"] = "x"
        self.assertIn("not reproducible", images_check.digest_differences(a, b)[0])
        with self.assertRaises(ValueError):
            images_check.read_table("reference\tname\n")

    def test_expected_run(self):
        args, pattern = images_check.expected_run("agent-next", "ghcr.io/promsidecar/promsidecar-agent:v0.1.1-test")
        self.assertEqual(args, ["--version"])
        self.assertRegex("promsidecar-agent 0.1.1-test", pattern)
        self.assertNotRegex("promsidecar-agent 0.1.0", pattern)
        _, pattern = images_check.expected_run("prometheus", "quay.io/prometheus/prometheus:v2.42.0")
        self.assertRegex("prometheus, version 2.42.0+ds (branch: debian/sid)", pattern)


if __name__ == "__main__":
    unittest.main()
