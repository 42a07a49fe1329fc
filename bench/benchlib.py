"""What every benchmark in bench/ shares: child processes stopped by their own
pid, CPU and memory of a process from /proc, small HTTP and port helpers."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLK_TCK = os.sysconf("SC_CLK_TCK")
MIB = 1024.0 * 1024.0


class BenchError(Exception):
    """A benchmark program failed (not a slow figure: a broken run)."""


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(url, method="GET", timeout=5):
    req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.read()


# --------------------------------------------------------------------------
# processes


class Proc:
    """A child process with its output in a log file; stopped by its own pid."""

    def __init__(self, argv, log_path, read_first_line=False, env=None):
        self.argv = argv
        self.log_path = log_path
        self.first_line = None
        self.log_file = open(log_path, "ab")
        if read_first_line:
            self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.log_file, stdin=subprocess.DEVNULL,
                                      env=env)
            line = self.p.stdout.readline().decode().strip()
            if not line:
                self.stop()
                raise BenchError(f"{argv[0]} exited before it listened; log {log_path}: {self.tail()}")
            self.first_line = line
        else:
            self.p = subprocess.Popen(argv, stdout=self.log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                      env=env)

    @property
    def pid(self):
        return self.p.pid

    def alive(self):
        return self.p.poll() is None

    def tail(self, n=1500):
        try:
            with open(self.log_path, "rb") as f:
                data = f.read()
            return data[-n:].decode(errors="replace")
        except OSError:
            return ""

    def kill(self):
        if self.alive():
            self.p.send_signal(signal.SIGKILL)
        self.p.wait()

    def stop(self, grace=15):
        """SIGTERM, then SIGKILL after `grace` seconds; returns the exit code."""
        if self.alive():
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.p.send_signal(signal.SIGKILL)
                self.p.wait()
        if self.p.stdout:
            self.p.stdout.close()
        self.log_file.close()
        return self.p.returncode


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    # fields after the command: state(3) ... utime(14) stime(15), 1-based as in proc(5)
    return (int(rest[11]) + int(rest[12])) / CLK_TCK


def memory(pid):
    """Memory of one process in bytes, from smaps_rollup and status.

    private: Private_Clean + Private_Dirty (every page mapped by this process
             alone: what one more sidecar costs on a node);
    issue_private: RssAnon + private dirty *file* pages (Private_Dirty minus
             Anonymous), the definition of issue 3;
    rss_anon, rss, pss as the kernel reports them.
    """
    rollup = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[2] == "kB":
                rollup[parts[0].rstrip(":")] = int(parts[1]) * 1024
    status = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[2] == "kB":
                status[parts[0].rstrip(":")] = int(parts[1]) * 1024
    private_dirty_file = max(0, rollup.get("Private_Dirty", 0) - rollup.get("Anonymous", 0))
    return {
        "private": rollup.get("Private_Clean", 0) + rollup.get("Private_Dirty", 0) + rollup.get("SwapPss", 0),
        "issue_private": status.get("RssAnon", 0) + private_dirty_file,
        "rss_anon": status.get("RssAnon", 0),
        "hwm": status.get("VmHWM", 0),  # peak RSS over the process's life, kept by the kernel
        "rss": rollup.get("Rss", 0),
        "pss": rollup.get("Pss", 0),
    }


def disk_bytes(path):
    """Bytes allocated on disk (st_blocks, as du counts) under `path`."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:
                pass  # a segment deleted while we walked
    return total


class Targets:
    """bench/bench_target: `count` targets of `series` series, scrapes counted per path."""

    def __init__(self, build_dir, workdir, count, series, threads=64):
        self.proc = Proc([os.path.join(build_dir, "bench/bench_target"), f"--targets={count}", f"--series={series}",
                          f"--threads={threads}"], os.path.join(workdir, "target.log"), read_first_line=True)
        self.ports = [int(p) for p in self.proc.first_line.split("=", 1)[1].split(",")]
        self.addresses = [f"127.0.0.1:{p}" for p in self.ports]

    def scrapes(self, agent_name):
        """Scrapes served per target address through this agent's path."""
        stats = json.loads(http(f"http://127.0.0.1:{self.ports[0]}/-/stats"))
        out = {}
        for key, n in stats.items():
            port, _, path = key.partition("/")
            if path == f"metrics/{agent_name}":
                out[f"127.0.0.1:{port}"] = n
        return out


class Receiver:
    """bench/bench_receiver: counts remote-write samples per path (/api/v1/write/<name>)."""

    def __init__(self, build_dir, workdir, cert=None, key=None, threads=64):
        argv = [os.path.join(build_dir, "bench/bench_receiver"), f"--threads={threads}"]
        if cert:
            argv += [f"--tls-cert={cert}", f"--tls-key={key}"]
        self.tls = bool(cert)
        self.proc = Proc(argv, os.path.join(workdir, "receiver-tls.log" if cert else "receiver.log"),
                         read_first_line=True)
        fields = dict(kv.split("=") for kv in self.proc.first_line.split())
        self.write_port = int(fields["write_port"])
        self.control_port = int(fields["control_port"])

    def url(self, agent_name):
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.write_port}/api/v1/write/{agent_name}"

    def stats(self):
        return json.loads(http(f"http://127.0.0.1:{self.control_port}/stats"))

    def down(self):
        http(f"http://127.0.0.1:{self.control_port}/down", "POST")

    def up(self):
        http(f"http://127.0.0.1:{self.control_port}/up", "POST")


# --------------------------------------------------------------------------
# an earlier commit, built beside this tree (side-by-side comparisons)


def build_baseline(rev, jobs, targets, copy_files=()):
    """Builds `targets` (ninja target names) of commit `rev` in a git worktree
    under build/ (Release, like bench/run's own build) and returns that build
    dir. `copy_files` (paths relative to the repository) are copied from this
    tree first: benchmark programs written to compile against either tree.
    """
    sha = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", rev], capture_output=True, text=True)
    if sha.returncode != 0:
        raise BenchError(f"baseline {rev} is not a commit: {sha.stderr.strip()}")
    tree = os.path.join(REPO, "build", f"baseline-{sha.stdout.strip()}")
    if not os.path.isdir(tree):
        r = subprocess.run(["git", "-C", REPO, "worktree", "add", "--detach", tree, sha.stdout.strip()],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise BenchError(f"git worktree add {tree} failed: {r.stderr[-600:]}")
    for f in copy_files:
        shutil.copyfile(os.path.join(REPO, f), os.path.join(tree, f))
    build = os.path.join(tree, "build-release")
    if not os.path.exists(os.path.join(build, "build.ninja")):
        # The same flags as bench/run's build (g++ 12's false -O3 warnings).
        r = subprocess.run(["cmake", "-S", tree, "-B", build, "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release",
                            "-DPROMSIDECAR_UNIT_TESTS_ONLY=OFF",
                            "-DCMAKE_CXX_FLAGS=-Wno-restrict -Wno-maybe-uninitialized",
                            "-DCMAKE_CXX_COMPILER_LAUNCHER=ccache"], capture_output=True, text=True)
        if r.returncode != 0:
            raise BenchError(f"configuring the baseline build failed: {r.stdout[-600:]} {r.stderr[-600:]}")
    log(f"baseline: building {', '.join(targets)} at {rev} in {build}")
    r = subprocess.run(["ninja", "-C", build, f"-j{jobs}"] + list(targets), capture_output=True, text=True)
    if r.returncode != 0:
        raise BenchError(f"building the baseline at {rev} failed: {r.stdout[-1200:]}")
    return build
