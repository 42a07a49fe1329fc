"""Reload storm (issue 8, part 6): N sidecars on one machine all see their
shared-config Secret change at once.

Each sidecar gets the files a pod would (a downwardAPI-style annotations and
labels file, the shared config as a Secret volume), laid out and swapped the
way the kubelet does it (a `..<timestamp>` dir, the `..data` symlink renamed
over; what test/agent/reload/kubelet_volume.h does in the C++ tests). All
scrape one shared bench_target through their own path and write to one
bench_receiver through their own path. The storm: every new payload dir is
written first, then all `..data` renames happen back to back (the remote-write
URL moves to a new receiver path).

Measured per storm: seconds from the first rename until the last sidecar
reloaded (each one's own reload timestamp: promsidecar-agent's
`..._config_last_reload_success_timestamp_seconds`; for the Prometheus pairs
the renderer's `promsidecar_renderer_last_success_timestamp_seconds`, set
when Prometheus confirmed its /-/reload), and the CPU seconds all processes
spent from the first rename until all had reloaded, minus what they spend in
the same time without a storm (measured just before). Every sidecar must then
deliver to its new path, or the run fails.

The same for Prometheus in agent mode (Debian's) with promsidecar-agent as its
renderer and reloader (--render-prometheus-config, --reload-url), as many
pairs as fit in memory.
"""

import os
import re
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
import urllib.request

from benchlib import MIB, BenchError, Proc, Receiver, Targets, cpu_seconds, free_port, log, memory

SCRAPE_INTERVAL = "5s"
AGENT_RELOAD_TS = "promsidecar_agent_config_last_reload_success_timestamp_seconds"
RENDERER_RELOAD_TS = "promsidecar_renderer_last_success_timestamp_seconds"


class KubeletVolume:
    """A Secret / downwardAPI volume updated like the kubelet's AtomicWriter."""

    def __init__(self, path):
        self.path = path
        self.seq = 0
        self.current = None
        os.makedirs(path, exist_ok=True)

    def prepare(self, files):
        """Step 1: a new `..<timestamp>` dir holding `files`; returns its name."""
        self.seq += 1
        name = time.strftime("..%Y_%m_%d_%H_%M_%S.") + str(self.seq)
        os.mkdir(os.path.join(self.path, name))
        for fname, text in files.items():
            with open(os.path.join(self.path, name, fname), "w") as f:
                f.write(text)
        return name, list(files)

    def swap(self, prepared):
        """Steps 2-4: `..data_tmp` -> new dir renamed over `..data`, user-visible links, old dir removed."""
        name, files = prepared
        tmp = os.path.join(self.path, "..data_tmp")
        os.symlink(name, tmp)
        os.rename(tmp, os.path.join(self.path, "..data"))
        for fname in files:
            link = os.path.join(self.path, fname)
            if not os.path.lexists(link):
                os.symlink(os.path.join("..data", fname), link)
        old, self.current = self.current, name
        return old

    def remove(self, old):
        if old:
            shutil.rmtree(os.path.join(self.path, old), ignore_errors=True)

    def publish(self, files):
        self.remove(self.swap(self.prepare(files)))

    def file(self, name):
        return os.path.join(self.path, name)


def _downward(kv):
    return "\n".join(f'{k}="{v}"' for k, v in sorted(kv.items()))


def _shared_config(url, generation):
    return (f"global:\n  scrape_interval: {SCRAPE_INTERVAL}\n"
            f"  external_labels: {{cluster: bench, generation: \"{generation}\"}}\n"
            "remote_write:\n"
            f"  - url: {url}\n"
            "    queue_config: {batch_send_deadline: 1s}\n")


def _metric(port, name, timeout=5):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout) as r:
        text = r.read().decode()
    m = re.search(r"^" + re.escape(name) + r"(?:\{[^}]*\})? (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


class Sidecar:
    """One pod's worth of files and processes: our agent, or our renderer + Prometheus."""

    def __init__(self, root, index, kind):
        self.name = f"{kind}{index:03d}"
        self.dir = os.path.join(root, self.name)
        self.kind = kind  # "ours" or "prom"
        self.pod = KubeletVolume(os.path.join(self.dir, "pod"))
        self.shared = KubeletVolume(os.path.join(self.dir, "shared"))
        self.procs = []
        self.generation = 0

    def write_url(self, receiver_port):
        return f"http://127.0.0.1:{receiver_port}/api/v1/write/{self.name}-g{self.generation}"

    def write_pod(self, target_port):
        self.pod.publish({
            "annotations": _downward({"prometheus.operator.io/scrape": "true",
                                      "prometheus.operator.io/port": str(target_port),
                                      "prometheus.operator.io/path": f"/metrics/{self.name}",
                                      "prometheus.operator.io/scrape-interval": SCRAPE_INTERVAL}),
            "labels": _downward({"app.kubernetes.io/name": "shop"})})

    def env(self):
        return {**os.environ, "POD_NAME": f"shop-{self.name}", "POD_NAMESPACE": "team-a",
                "POD_UID": f"uid-{self.name}", "POD_IP": "127.0.0.1"}

    def start(self, build_dir):
        agent = os.path.join(build_dir, "src/agent/promsidecar-agent")
        self.web_port = free_port()
        common = [f"--config.file={self.shared.file('config.yaml')}",
                  f"--pod.annotations-file={self.pod.file('annotations')}",
                  f"--pod.labels-file={self.pod.file('labels')}",
                  f"--web.listen-address=127.0.0.1:{self.web_port}", "--log.level=warn"]
        if self.kind == "ours":
            self.procs.append(Proc([agent] + common + [f"--wal.dir={os.path.join(self.dir, 'wal')}"],
                                   os.path.join(self.dir, "agent.log"), env=self.env()))
            return
        self.prom_port = free_port()
        rendered = os.path.join(self.dir, "rendered", "prometheus.yml")
        os.makedirs(os.path.dirname(rendered), exist_ok=True)
        self.procs.append(Proc([agent, f"--render-prometheus-config={rendered}",
                                f"--reload-url=http://127.0.0.1:{self.prom_port}/-/reload",
                                f"--prometheus.version={prometheus_version()}"] + common,
                               os.path.join(self.dir, "renderer.log"), env=self.env()))
        deadline = time.monotonic() + 60
        while not os.path.exists(rendered):
            if time.monotonic() > deadline or not self.procs[0].alive():
                raise BenchError(f"{self.name}: the renderer wrote no {rendered}; log: {self.procs[0].tail()}")
            time.sleep(0.05)
        self.procs.append(Proc([shutil.which("prometheus"), "--enable-feature=agent", "--web.enable-lifecycle",
                                f"--config.file={rendered}", f"--storage.agent.path={os.path.join(self.dir, 'data')}",
                                f"--web.listen-address=127.0.0.1:{self.prom_port}", "--log.level=warn"],
                               os.path.join(self.dir, "prometheus.log")))

    def reload_ts(self):
        return _metric(self.web_port, AGENT_RELOAD_TS if self.kind == "ours" else RENDERER_RELOAD_TS)

    def cpu(self):
        return sum(cpu_seconds(p.pid) for p in self.procs)

    def rss(self):
        return sum(memory(p.pid)["rss"] for p in self.procs)

    def check_alive(self):
        for p in self.procs:
            if not p.alive():
                raise BenchError(f"{self.name}: {os.path.basename(p.argv[0])} exited (code {p.p.returncode}); "
                                 f"log: {p.tail()}")

    def stop(self):
        for p in reversed(self.procs):
            p.stop()


def _stop_all(sidecars):
    """SIGTERM to every process first, so a fleet shuts down in parallel."""
    for s in sidecars:
        for p in s.procs:
            if p.alive():
                p.p.send_signal(signal.SIGTERM)
    for s in sidecars:
        s.stop()


_PROM_VERSION = []


def prometheus_version():
    """Debian's Prometheus version as the renderer wants it (v2.42.0)."""
    if not _PROM_VERSION:
        out = subprocess.run([shutil.which("prometheus"), "--version"], capture_output=True, text=True)
        m = re.search(r"version (\d+\.\d+\.\d+)", out.stdout + out.stderr)
        _PROM_VERSION.append("v" + (m.group(1) if m else "2.42.0"))
    return _PROM_VERSION[0]


def _fits(wanted, per_pair_bytes):
    """How many Prometheus pairs fit in half of MemAvailable (the machine is shared)."""
    with open("/proc/meminfo") as f:
        avail = next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:"))
    return max(0, min(wanted, int(avail * 0.5 // per_pair_bytes))), avail


INOTIFY_LIMIT = "/proc/sys/fs/inotify/max_user_instances"


def _inotify_in_use():
    n = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") == "anon_inode:inotify":
                    n += 1
        except OSError:
            pass  # gone, or not ours to read
    return n


def _ensure_inotify(needed):
    """Every sidecar holds one inotify instance, and the kernel's default per-user
    limit (128) is below a 200-sidecar fleet under one user, exactly as on a node
    whose sidecars share a UID: raise it when root, else say how far we got."""
    with open(INOTIFY_LIMIT) as f:
        limit = int(f.read())
    want = needed + _inotify_in_use() + 32
    if limit >= want:
        return None
    if os.geteuid() == 0:
        with open(INOTIFY_LIMIT, "w") as f:
            f.write(str(want))
        log(f"storm: raised fs.inotify.max_user_instances from {limit} to {want} (one instance per sidecar)")
        return (f"fs.inotify.max_user_instances raised from {limit} to {want}: every sidecar holds one inotify "
                "instance, so the default per-user limit of 128 caps a node's sidecars that share a UID")
    raise BenchError(f"fs.inotify.max_user_instances is {limit}, {want} are needed (one per sidecar); "
                     f"run as root or raise it: sysctl -w fs.inotify.max_user_instances={want}")


def _storm(sidecars, receiver, settle):
    """One storm: every shared config swapped at once. Returns the figures."""
    # Baseline: CPU of the fleet over a quiet window as long as the storm will take (estimated below).
    cpu_a, t_a = sum(s.cpu() for s in sidecars), time.monotonic()
    time.sleep(settle)
    base_rate = (sum(s.cpu() for s in sidecars) - cpu_a) / (time.monotonic() - t_a)
    before = {s.name: s.reload_ts() or 0.0 for s in sidecars}
    prepared = []
    for s in sidecars:
        s.generation += 1
        prepared.append((s, s.shared.prepare({"config.yaml": _shared_config(s.write_url(receiver.write_port),
                                                                             s.generation)})))
    cpu0 = sum(s.cpu() for s in sidecars)
    t0_wall, t0 = time.time(), time.monotonic()
    olds = [(s, s.shared.swap(p)) for s, p in prepared]
    swap_s = time.monotonic() - t0
    pending, reloaded = {s.name: s for s in sidecars}, {}
    deadline = t0 + 300
    while pending and time.monotonic() < deadline:
        time.sleep(0.25)
        for name, s in list(pending.items()):
            ts = s.reload_ts()
            if ts is not None and ts > before[name] and ts >= t0_wall - 0.001:
                reloaded[name] = ts - t0_wall
                del pending[name]
    t1 = time.monotonic()
    cpu1 = sum(s.cpu() for s in sidecars)
    if pending:
        s = next(iter(pending.values()))
        s.check_alive()
        raise BenchError(f"{len(pending)} of {len(sidecars)} sidecars did not reload within 300 s "
                         f"(e.g. {s.name}; log: {s.procs[0].tail()})")
    for s, old in olds:
        s.shared.remove(old)
    # The new config must be in effect: every sidecar delivers to its new path.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        stats = receiver.stats()
        missing = [s.name for s in sidecars if stats.get(f"{s.name}-g{s.generation}", {}).get("samples", 0) == 0]
        if not missing:
            break
        time.sleep(0.5)
    else:
        raise BenchError(f"{len(missing)} sidecars reloaded but sent nothing to their new URL (e.g. {missing[0]})")
    window = t1 - t0
    return {"all_reloaded_s": max(reloaded.values()), "median_reload_s": statistics.median(reloaded.values()),
            "swap_s": swap_s, "cpu_s": cpu1 - cpu0, "extra_cpu_s": (cpu1 - cpu0) - base_rate * window,
            "window_s": window, "base_cpu_per_s": base_rate}


def _fleet(ctx, kind, count, target, receiver, root):
    sidecars = []
    try:
        for i in range(count):
            s = Sidecar(root, i, kind)
            sidecars.append(s)
            s.write_pod(target.ports[0])
            s.shared.publish({"config.yaml": _shared_config(s.write_url(receiver.write_port), 0)})
            s.start(ctx.build_dir)
            if kind == "prom" and i % 10 == 9:
                time.sleep(0.5)  # Prometheus's start-up is heavy; do not start them all in one go
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            stats = receiver.stats()
            waiting = [s for s in sidecars if stats.get(f"{s.name}-g0", {}).get("samples", 0) == 0]
            if not waiting:
                return sidecars
            for s in waiting:
                s.check_alive()
            time.sleep(1)
        raise BenchError(f"{len(waiting)} of {count} {kind} sidecars delivered nothing within 300 s; "
                         f"log: {waiting[0].procs[-1].tail()}")
    except BaseException:
        _stop_all(sidecars)
        raise


def storm_bench(ctx):
    p = ctx.storm
    kinds = [("ours", p["agents"], "promsidecar-agent (sidecar mode)")]
    note = None
    if p["prometheus"] > 0 and shutil.which("prometheus"):
        n, avail = _fits(p["prometheus"], 70 * MIB)
        if n < p["prometheus"]:
            note = (f"{n} of {p['prometheus']} Prometheus pairs: that many fit in half of MemAvailable "
                    f"({avail / MIB / 1024:.1f} GiB) at ~70 MiB a pair")
        if n > 0:
            kinds.append(("prom", n, "Prometheus agent + promsidecar-agent renderer/reloader"))
    elif p["prometheus"] > 0:
        note = "Prometheus pairs skipped: /usr/bin/prometheus not installed"
    # One fleet runs at a time, so the larger one sets the need.
    inotify_note = _ensure_inotify(max(count for _, count, _ in kinds))
    note = "; ".join(x for x in [note, inotify_note] if x) or None
    results = {}
    workdir = tempfile.mkdtemp(prefix="storm-", dir=ctx.workdir)
    threads = 2 * max(count for _, count, _ in kinds) + 16  # one per kept-alive connection
    fixtures = []
    try:
        target = Targets(ctx.build_dir, workdir, 1, p["series"], threads)
        fixtures.append(target.proc)
        receiver = Receiver(ctx.build_dir, workdir, threads=threads)
        fixtures.append(receiver.proc)
        for kind, count, label in kinds:
            log(f"storm: starting {count} {label}")
            sidecars = _fleet(ctx, kind, count, target, receiver, os.path.join(workdir, kind))
            try:
                rss = sum(s.rss() for s in sidecars)
                runs = []
                for i in range(p["runs"]):
                    log(f"storm: {kind}, storm {i + 1}/{p['runs']}")
                    runs.append(_storm(sidecars, receiver, settle=5 if p["agents"] > 10 else 2))
                results[kind] = {"label": label, "count": count, "runs": runs, "rss": rss}
            finally:
                _stop_all(sidecars)
    finally:
        for proc in reversed(fixtures):
            proc.stop()
        if not ctx.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return {"results": results, "note": note}


def _fmt(values, fmt):
    med = statistics.median(values)
    if len(values) == 1:
        return fmt.format(med)
    return f"{fmt.format(med)} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def storm_table(ctx, res):
    r = res["results"]
    kinds = list(r)
    header = ["measure"] + [f"{r[k]['count']} x {r[k]['label']}" for k in kinds]

    def row(label, key, fmt):
        return [label] + [_fmt([x[key] for x in r[k]["runs"]], fmt) for k in kinds]

    rows = [
        row("time from the first ..data swap until the last reload (s)", "all_reloaded_s", "{:.2f}"),
        row("median time to reload (s)", "median_reload_s", "{:.2f}"),
        row("CPU s of all processes from the swap until all reloaded", "cpu_s", "{:.2f}"),
        row("... minus the same window without a storm (CPU s the storm cost)", "extra_cpu_s", "{:.2f}"),
        row("CPU s per second without a storm (all processes)", "base_cpu_per_s", "{:.2f}"),
        row("time to swap all ..data links (s)", "swap_s", "{:.3f}"),
        ["RSS of all processes, MiB (shared pages counted in each)"] + [f"{r[k]['rss'] / MIB:.0f}" for k in kinds],
    ]
    title = (f"Reload storm: every sidecar's shared-config Secret swapped at once (kubelet-style ..data rename; new "
             f"remote-write URL), scrape interval {SCRAPE_INTERVAL}, {ctx.storm['series']} series each, one shared "
             f"bench_target and bench_receiver; {ctx.storm['runs']} storm(s) per fleet, median (min–max)"
             + (f"; {res['note']}" if res["note"] else ""))
    return title, header, rows
