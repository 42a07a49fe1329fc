#!/usr/bin/env python3
"""Checks of the OCI images scripts/build-images makes.

  images_check.py archives [--source DIR]
      builds the images (scripts/build-images: a no-op when they are up to
      date) into build/images and, independently, into build/images-repro, and
      checks: both give the same digests (reproducible); every archive names
      its reference; the config's USER is numeric and not root; the agent and
      operator images hold no shell and no package manager; every timestamp is
      0; the entrypoint runs as that user in the unpacked root filesystem
      (chroot): the agents print their versions. Prints each image's sizes.

  images_check.py push --state-dir DIR [--source DIR]
      starts Debian's docker-registry (its binary from `apt-get download`, not
      installed) on a free loopback port with its storage under DIR, pushes the
      operator and agent images with `scripts/build-images --push` (which reads
      each manifest back and compares its digest), checks the registry's
      catalog and tags, stops the registry and removes DIR.

  images_check.py containerd --state-dir DIR [--source DIR]
      starts a containerd of its own (root, state, socket and config under DIR,
      no CRI plugin), imports every archive with `scripts/build-images --import`
      (namespace k8s.io) and runs each image once with `ctr run --read-only` as
      its own user: the agent scraping the sample app, the sample app serving
      and its busybox shell, pause exiting 0 on SIGTERM, Prometheus in agent
      mode answering /-/ready; stops containerd and removes what it made.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request

from chart_check import Checks

NO_SHELL = ("agent", "agent-next", "operator")
# What no image without a shell may hold: shells and package managers.
FORBIDDEN = ("bin/sh", "usr/bin/sh", "bin/bash", "usr/bin/bash", "bin/busybox", "usr/bin/dpkg", "usr/bin/apt",
             "usr/bin/apt-get")
EPOCH = "1970-01-01T00:00:00Z"


# --- pure: the table, the image's metadata and files ------------------------


def read_table(text):
    """images.tsv -> {name: {column: value}}."""
    lines = [line.split("\t") for line in text.splitlines() if line.strip()]
    if not lines or lines[0][:3] != ["name", "reference", "digest"]:
        raise ValueError("images.tsv: want a header line starting name, reference, digest")
    return {row[0]: dict(zip(lines[0], row)) for row in lines[1:]}


def digest_differences(first, second):
    """Rows may carry "inputs" (the hash build-images keeps of an image's inputs)."""
    problems = []
    for name in sorted(first.keys() | second.keys()):
        a, b = first.get(name, {}), second.get(name, {})
        if a.get("inputs") != b.get("inputs"):
            problems.append(f"{name}: the two builds had different inputs (did a program or a Debian package "
                            "change in between?); run the test again")
        elif a.get("digest") != b.get("digest"):
            problems.append(f"{name}: digest {a.get('digest')} in one build, {b.get('digest')} in the other: "
                            "the image is not reproducible")
    return problems


def image_problems(name, want_ref, index, config, layers):
    """layers: [[(path, tarfile.TarInfo-like with mode, uid, mtime, isfile())]] in order."""
    problems = []
    refs = [m.get("annotations", {}).get("org.opencontainers.image.ref.name") for m in index.get("manifests", [])]
    if refs != [want_ref]:
        problems.append(f"{name}: the archive names {refs}, want [{want_ref!r}]")
    user = config.get("config", {}).get("User", "")
    m = re.fullmatch(r"(\d+):(\d+)", user)
    if not m or m.group(1) == "0":
        problems.append(f"{name}: USER is {user!r}, want a numeric non-root UID:GID (runAsNonRoot needs numbers)")
    if config.get("created") != EPOCH or any(h.get("created") != EPOCH for h in config.get("history", [])):
        problems.append(f"{name}: the config or its history has a creation time other than {EPOCH}")
    files = {}
    for layer in layers:
        for path, info in layer:
            files[path.lstrip("./").rstrip("/")] = info
            if info.mtime != 0:
                problems.append(f"{name}: {path} has mtime {info.mtime}, want 0 (reproducible layers)")
                break
            # Writable by others: a mode copied from a checkout (its umask), or a hole.
            if info.mode & 0o022 and not info.issym() and path.strip("./") != "tmp":
                problems.append(f"{name}: {path} has mode {info.mode:o}, writable by group or others")
                break
    if name in NO_SHELL:
        for path in FORBIDDEN:
            if path in files:
                problems.append(f"{name}: holds /{path}; the agent and operator images have no shell or package manager")
    entrypoint = config.get("config", {}).get("Entrypoint") or []
    target = files.get(entrypoint[0].lstrip("/")) if entrypoint else None
    if target is None or not target.isfile() or not target.mode & 0o111:
        problems.append(f"{name}: the entrypoint {entrypoint} is not an executable file in the image")
    return problems


def expected_run(name, reference):
    """(arguments after the entrypoint, a regular expression its output must match)."""
    tag = reference.rsplit(":", 1)[1]
    return {
        "agent": (["--version"], rf"^promsidecar-agent {re.escape(tag[1:])}$"),
        "agent-next": (["--version"], rf"^promsidecar-agent {re.escape(tag[1:])}$"),
        "operator": (["--help"], r"inject"),
        "sampleapp": (["--help"], r"--series"),
        "pause": (["-v"], r"^pause"),
        "prometheus": (["--version"], rf"version {re.escape(tag[1:])}"),
    }[name]


# --- I/O -------------------------------------------------------------------


def run(argv, check=True, **kw):
    print("$ " + " ".join(argv), flush=True)
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)
    if check and r.returncode != 0:
        raise SystemExit(f"{argv[0]} exited {r.returncode}:\n{r.stdout[-4000:]}")
    return r


def build(source, out, *options):
    r = subprocess.run([os.path.join(source, "scripts", "build-images"), "--out", out, *options])
    if r.returncode != 0:
        raise SystemExit(f"scripts/build-images --out {out} failed (exit {r.returncode}); its output is above")
    with open(os.path.join(out, "images.tsv"), encoding="utf-8") as f:
        table = read_table(f.read())
    for name, row in table.items():
        with open(os.path.join(out, f"{name}.inputs"), encoding="utf-8") as f:
            row["inputs"] = f.read().strip()
    return table


def blob(tar, digest):
    return tar.extractfile("blobs/sha256/" + digest.split(":", 1)[1]).read()


def read_archive(path):
    with tarfile.open(path) as tar:
        index = json.loads(tar.extractfile("index.json").read())
        manifest = json.loads(blob(tar, index["manifests"][0]["digest"]))
        config = json.loads(blob(tar, manifest["config"]["digest"]))
        layers = []
        for layer in manifest["layers"]:
            with tarfile.open(fileobj=tar.extractfile("blobs/sha256/" + layer["digest"].split(":", 1)[1])) as lt:
                layers.append([(m.name, m) for m in lt.getmembers()])
    return index, manifest, config, layers


def run_in_rootfs(archive, reference, config, args):
    """Unpacks the image (umoci) and runs its entrypoint with args in a chroot as the image's user."""
    with tempfile.TemporaryDirectory(prefix="images-check-") as tmp:
        layout = os.path.join(tmp, "layout")
        os.mkdir(layout)
        with tarfile.open(archive) as tar:
            tar.extractall(layout)
        run(["umoci", "unpack", "--image", f"{layout}:{reference}", os.path.join(tmp, "bundle")])
        cfg = config["config"]
        # The host's env and chroot set up the image's environment, then exec
        # the entrypoint, which finds its libraries in the image alone.
        env = ["env", "-i"] + cfg.get("Env", [])
        return subprocess.run([*env, "chroot", f"--userspec={cfg['User']}", os.path.join(tmp, "bundle", "rootfs"),
                               *cfg["Entrypoint"], *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=60)


def mib(n):
    return f"{int(n) / 1048576:.1f} MiB"


def check_archives(source):
    failures = []
    out = os.path.join(source, "build", "images")
    table = build(source, out)
    # An independent assembly from the same inputs (the same programs: no
    # build in between), into a directory of its own.
    again = build(source, os.path.join(source, "build", "images-repro"), "--no-build")
    failures += digest_differences(table, again)
    for name, row in sorted(table.items()):
        index, _, config, layers = read_archive(row["archive"])
        problems = image_problems(name, row["reference"], index, config, layers)
        failures += problems
        if problems:
            continue
        args, pattern = expected_run(name, row["reference"])
        r = run_in_rootfs(row["archive"], row["reference"], config, args)
        if r.returncode != 0 or not re.search(pattern, r.stdout, re.M):
            failures.append(f"{name}: {' '.join(config['config']['Entrypoint'] + args)} as {config['config']['User']} "
                            f"exited {r.returncode}, output {r.stdout[-1000:]!r} does not match {pattern!r}")
    print(f"\n{'image':<11} {'reference':<48} {'compressed':>11} {'unpacked':>10}  digest")
    for name, row in sorted(table.items()):
        print(f"{name:<11} {row['reference']:<48} {mib(row['compressed_bytes']):>11} "
              f"{mib(row['uncompressed_bytes']):>10}  {row['digest']}")
    return failures


# --- a containerd of our own -------------------------------------------------


class Containerd:
    def __init__(self, state_dir):
        self.dir = os.path.abspath(state_dir)
        self.sock = os.path.join(self.dir, "containerd.sock")
        self.proc = None
        self.ids = []
        # The containers' cgroups, apart from any other run of this test.
        self.cgroup_parent = f"promsidecar-images-test-{os.getpid()}"

    def cgroup(self, cid):
        return f"/{self.cgroup_parent}/{cid}"

    def start(self):
        if os.path.exists(self.dir):
            self.remove_dir()
        os.makedirs(self.dir)
        config = os.path.join(self.dir, "config.toml")
        with open(config, "w", encoding="utf-8") as f:
            f.write(f'''version = 2
root = "{self.dir}/root"
state = "{self.dir}/state"
# Images and ctr only: no kubelet talks to this one.
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "{self.sock}"
[ttrpc]
  address = "{self.sock}.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
''')
        self.log = open(os.path.join(self.dir, "containerd.log"), "w", encoding="utf-8")
        self.proc = subprocess.Popen(["containerd", "--config", config], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"containerd exited {self.proc.returncode}; see {self.dir}/containerd.log")
            if os.path.exists(self.sock) and self.ctr("version", check=False).returncode == 0:
                return
            time.sleep(0.2)
        raise SystemExit(f"containerd did not answer on {self.sock} within 60 s; see {self.dir}/containerd.log")

    def ctr(self, *args, check=True, timeout=120):
        return run(["ctr", "--address", self.sock, "-n", "k8s.io", *args], check=check, timeout=timeout)

    def run_detached(self, cid, ref, args, extra=()):
        self.ids.append(cid)
        self.ctr("run", "-d", "--read-only", "--cgroup", self.cgroup(cid), *extra, ref, cid, *args)

    def pid(self, cid):
        out = self.ctr("task", "ls").stdout
        m = re.search(rf"^{re.escape(cid)}\s+(\d+)\s+(\S+)", out, re.M)
        return (int(m.group(1)), m.group(2)) if m else (None, None)

    def stop(self, cid, sig="SIGTERM", wait=30):
        """Signals the task and waits for it to stop; True if it stopped in time."""
        self.ctr("task", "kill", "-s", sig, cid, check=False)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.pid(cid)[1] != "RUNNING":
                return True
            time.sleep(0.2)
        return False

    def remove(self, cid):
        if self.pid(cid)[1] == "RUNNING":
            self.stop(cid, "SIGKILL")
        self.ctr("task", "rm", "-f", cid, check=False)
        self.ctr("containers", "rm", cid, check=False)

    def shutdown(self):
        for cid in self.ids:
            self.remove(cid)
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for root in ["/sys/fs/cgroup"] + [os.path.join("/sys/fs/cgroup", d) for d in os.listdir("/sys/fs/cgroup")]:
            parent = os.path.join(root, self.cgroup_parent)
            if os.path.isdir(parent):
                for child in os.listdir(parent):
                    if os.path.isdir(os.path.join(parent, child)):
                        try:
                            os.rmdir(os.path.join(parent, child))
                        except OSError:
                            pass
                try:
                    os.rmdir(parent)
                except OSError:
                    pass
        self.remove_dir()

    def remove_dir(self):
        with open("/proc/self/mountinfo", encoding="utf-8") as f:
            mounts = [line.split()[4] for line in f]
        for mount in sorted((m for m in mounts if m.startswith(self.dir + "/")), reverse=True):
            subprocess.run(["umount", "-l", mount])
        shutil.rmtree(self.dir, ignore_errors=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def poll(what, fn, seconds=60):
    deadline = time.monotonic() + seconds
    last = None
    while time.monotonic() < deadline:
        try:
            last = fn()
            if last:
                return last
        except Exception as e:  # noqa: BLE001 - the target is not up yet
            last = e
        time.sleep(0.3)
    raise AssertionError(f"{what}: not within {seconds} s (last: {last!r})")


def http_get(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read().decode()


def uid_of(pid):
    with open(f"/proc/{pid}/status", encoding="utf-8") as f:
        return re.search(r"^Uid:\s+(\d+)", f.read(), re.M).group(1)


def check_containerd(source, state_dir):
    tsv = os.path.join(source, "build", "images", "images.tsv")
    with open(tsv, encoding="utf-8") as f:
        names = sorted(read_table(f.read()))
    failures = []
    c = Containerd(state_dir)
    try:
        c.start()
        # --no-build: what deploy.images built and checked (its fixture), not a newer build.
        r = run([os.path.join(source, "scripts", "build-images"), "--no-build", "--images", ",".join(names),
                 "--import", c.sock], check=False)
        print(r.stdout[-3000:])
        if r.returncode != 0:
            return ["scripts/build-images --import failed (output above)"]
        # What was imported: the images as up to date as that run made them.
        with open(tsv, encoding="utf-8") as f:
            table = read_table(f.read())
        listed = c.ctr("images", "ls").stdout
        for name, row in sorted(table.items()):
            if not re.search(rf"^{re.escape(row['reference'])}\s+\S+\s+{row['digest']}\s", listed, re.M):
                failures.append(f"{name}: containerd does not list {row['reference']} at {row['digest']}:\n{listed}")
        refs = {name: row["reference"] for name, row in table.items()}
        work = os.path.join(c.dir, "work")

        # The agent, as the injector runs it (the bare command name, found
        # through PATH), scraping the sample app; both read-only, as 65532.
        for name in ("agent", "agent-next"):
            if name in refs:
                _, pattern = expected_run(name, refs[name])
                out = c.ctr("run", "--rm", "--read-only", "--cgroup", c.cgroup(f"{name}-version"), refs[name],
                            f"{name}-version", "promsidecar-agent", "--version").stdout
                if not re.search(pattern, out, re.M):
                    failures.append(f"{name}: promsidecar-agent --version printed {out!r}, want {pattern!r}")
        if "sampleapp" in refs and "agent" in refs:
            app_port, agent_port = free_port(), free_port()
            c.run_detached("app", refs["sampleapp"], ["promsidecar-sampleapp", "--listen", f"127.0.0.1:{app_port}",
                                                      "--series", "3"], ["--net-host"])
            os.makedirs(os.path.join(work, "cfg"))
            os.makedirs(os.path.join(work, "wal"))
            os.chown(os.path.join(work, "wal"), 65532, 65532)
            with open(os.path.join(work, "cfg", "agent.yml"), "w", encoding="utf-8") as f:
                f.write("global: {scrape_interval: 1s}\nscrape_configs:\n  - job_name: app\n"
                        f"    static_configs: [{{targets: ['127.0.0.1:{app_port}']}}]\n")
            c.run_detached("agent", refs["agent"], [
                "promsidecar-agent", "--config.file=/cfg/agent.yml", "--wal.dir=/wal",
                f"--web.listen-address=127.0.0.1:{agent_port}"], [
                "--net-host", "--mount", f"type=bind,src={work}/cfg,dst=/cfg,options=rbind:ro",
                "--mount", f"type=bind,src={work}/wal,dst=/wal,options=rbind:rw"])
            scraped = poll("the agent's scrapes of the sample app", lambda: re.search(
                r'^promsidecar_agent_scrape_samples_scraped_total\{job="app".*\} ([1-9]\d*)',
                http_get(f"http://127.0.0.1:{agent_port}/metrics"), re.M))
            print(f"agent scraped {scraped.group(1)} samples from the sample app")
            for cid in ("agent", "app"):
                pid, _ = c.pid(cid)
                if uid_of(pid) != "65532":
                    failures.append(f"{cid}: runs as UID {uid_of(pid)}, want 65532 (the image's USER)")
            # The sample app's busybox, in its read-only root filesystem.
            out = c.ctr("task", "exec", "--exec-id", "sh", "app", "sh", "-c",
                        f"id -u; wget -qO- http://127.0.0.1:{app_port}/metrics | grep -c sampleapp_events_total; "
                        "touch /x 2>/dev/null && echo writable || echo read-only").stdout.split()
            if out[:1] != ["65532"] or out[-1:] != ["read-only"] or not out[1:2] or int(out[1]) < 3:
                failures.append(f"sampleapp: sh -c 'id -u; wget ...; touch /x' printed {out}, want 65532, >= 3 "
                                "series, read-only")
            for cid in ("agent", "app"):
                if not c.stop(cid):
                    failures.append(f"{cid}: still running 30 s after SIGTERM")
        if "operator" in refs:
            r = c.ctr("run", "--rm", "--read-only", "--cgroup", c.cgroup("operator"), refs["operator"],
                      "operator", "/usr/local/bin/promsidecar-operator", "--help", check=False)
            if r.returncode != 0 or "inject" not in r.stdout:
                failures.append(f"operator: --help exited {r.returncode}: {r.stdout[-1000:]!r}")
        if "pause" in refs:
            # ctr run in the foreground returns the task's exit status.
            c.ids.append("pause")
            p = subprocess.Popen(["ctr", "--address", c.sock, "-n", "k8s.io", "run", "--rm", "--read-only", "--cgroup",
                                  c.cgroup("pause"), refs["pause"], "pause"])
            poll("pause running", lambda: c.pid("pause")[1] == "RUNNING")
            pid, _ = c.pid("pause")
            c.ctr("task", "kill", "-s", "SIGTERM", "pause")
            code = p.wait(60)
            if code != 0:
                failures.append(f"pause: exited {code} on SIGTERM, want 0")
        if "prometheus" in refs:
            port = free_port()
            os.makedirs(os.path.join(work, "prom"))
            os.makedirs(os.path.join(work, "promwal"))
            os.chown(os.path.join(work, "promwal"), 65532, 65532)
            with open(os.path.join(work, "prom", "prometheus.yml"), "w", encoding="utf-8") as f:
                f.write(f"scrape_configs: [{{job_name: self, static_configs: [{{targets: ['127.0.0.1:{port}']}}]}}]\n")
            # The injector's flags for a 2.x engine (src/operator/inject/inject.cc).
            c.run_detached("prometheus", refs["prometheus"], [
                "/bin/prometheus", "--config.file=/etc/rendered/prometheus.yml", "--enable-feature=agent",
                "--storage.agent.path=/wal", f"--web.listen-address=127.0.0.1:{port}", "--web.enable-lifecycle"], [
                "--net-host", "--mount", f"type=bind,src={work}/prom,dst=/etc/rendered,options=rbind:ro",
                "--mount", f"type=bind,src={work}/promwal,dst=/wal,options=rbind:rw"])
            poll("Prometheus /-/ready", lambda: "Ready" in http_get(f"http://127.0.0.1:{port}/-/ready"))
            pid, _ = c.pid("prometheus")
            if uid_of(pid) != "65532":
                failures.append(f"prometheus: runs as UID {uid_of(pid)}, want 65532")
            if not c.stop("prometheus"):
                failures.append("prometheus: still running 30 s after SIGTERM")
    finally:
        c.shutdown()
    return failures


def check_push(source, state_dir):
    state_dir = os.path.abspath(state_dir)
    shutil.rmtree(state_dir, ignore_errors=True)
    os.makedirs(state_dir)
    run(["apt-get", "download", "-q", "-o", "APT::Sandbox::User=root", "docker-registry"], cwd=state_dir)
    debs = [f for f in os.listdir(state_dir) if f.endswith(".deb")]
    run(["dpkg-deb", "-x", os.path.join(state_dir, debs[0]), os.path.join(state_dir, "pkg")])
    port = free_port()
    config = os.path.join(state_dir, "config.yml")
    with open(config, "w", encoding="utf-8") as f:
        f.write(f"version: 0.1\nlog: {{level: warn}}\nstorage:\n  filesystem: {{rootdirectory: {state_dir}/data}}\n"
                f"http:\n  addr: 127.0.0.1:{port}\n")
    log = open(os.path.join(state_dir, "registry.log"), "w", encoding="utf-8")
    registry = subprocess.Popen([os.path.join(state_dir, "pkg", "usr", "bin", "docker-registry"), "serve", config],
                                stdout=log, stderr=subprocess.STDOUT)
    failures = []
    try:
        poll("the registry", lambda: http_get(f"http://127.0.0.1:{port}/v2/") is not None)
        host = f"127.0.0.1:{port}"
        r = run([os.path.join(source, "scripts", "build-images"), "--no-build", "--images", "operator,agent",
                 "--push", host, "--insecure-registry"], check=False)
        print(r.stdout[-3000:])
        if r.returncode != 0:
            return [f"scripts/build-images --push {host} failed (output above)"]
        with open(os.path.join(source, "build", "images", "images.tsv"), encoding="utf-8") as f:
            table = read_table(f.read())
        catalog = json.loads(http_get(f"http://{host}/v2/_catalog"))["repositories"]
        for name in ("operator", "agent"):
            repo, tag = table[name]["reference"].split("/", 1)[1].rsplit(":", 1)
            if repo not in catalog:
                failures.append(f"{name}: the registry's catalog {catalog} lacks {repo}")
                continue
            req = urllib.request.Request(f"http://{host}/v2/{repo}/manifests/{tag}", method="HEAD", headers={
                "Accept": "application/vnd.oci.image.manifest.v1+json"})
            with urllib.request.urlopen(req, timeout=10) as resp:
                got = resp.headers.get("Docker-Content-Digest")
            if got != table[name]["digest"]:
                failures.append(f"{name}: the registry serves {repo}:{tag} at {got}, built {table[name]['digest']}")
    finally:
        registry.terminate()
        registry.wait(30)
        log.close()
        shutil.rmtree(state_dir, ignore_errors=True)
    return failures


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["archives", "containerd", "push"])
    ap.add_argument("--source", default=os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
    ap.add_argument("--state-dir", help="containerd, push: the directory of the daemon it starts (removed afterwards)")
    a = ap.parse_args()
    if a.what == "archives":
        failures = check_archives(a.source)
    elif not a.state_dir:
        ap.error(f"{a.what} needs --state-dir")
    elif a.what == "containerd":
        failures = check_containerd(a.source, a.state_dir)
    else:
        failures = check_push(a.source, a.state_dir)
    checks = Checks()
    checks.extend(failures)
    return checks.finish(f"images {a.what}")


if __name__ == "__main__":
    sys.exit(main())
