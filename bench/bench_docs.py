"""Renders docs/benchmarks.md from one bench/run: the tables, the machine, the
exact command, and every target of issues 3 and 8 marked met / not met from the
figures just measured (never edited by hand, so it cannot flatter)."""

import statistics
import time

MIB = 1024.0 * 1024.0


def _verdict(ok):
    return "**met**" if ok else "**not met**"


def _targets(ctx, summary, versions):
    rows = []
    cell = summary.get(("footprint", 1000, 1))
    ours = None
    if cell:
        ours = "ours-tls" if ("ours-tls", "issue_private") in cell else "ours"
        mem = cell[(ours, "issue_private")] if (ours, "issue_private") in cell else None
        rows.append(["private memory < 4 MiB at 1,000 series (RssAnon + private dirty file pages, "
                     f"{'with TLS to the receiver' if ours == 'ours-tls' else 'plain HTTP'})",
                     f"{mem:.1f} MiB", _verdict(mem < 4.0)])
        cpu = cell[(ours, "cpu_us_per_sample")]
        refs = [f"{n} {cell[(n, 'cpu_us_per_sample')]:.2f} µs" for n in ("prometheus", "vmagent")
                if (n, "cpu_us_per_sample") in cell]
        rows.append(["CPU per sample delivered < 1 µs (below vmagent's by a wide margin)",
                     f"{cpu:.2f} µs" + (f" ({', '.join(refs)})" if refs else ""), _verdict(cpu < 1.0)])
        disk = cell[(ours, "disk")] / 1024  # medians are in the table's unit, KiB
        rows.append(["WAL on disk < 2 MiB while the endpoint is healthy (1,000 series)", f"{disk:.2f} MiB",
                     _verdict(disk < 2.0)])
    else:
        rows.append(["private memory, CPU per sample, WAL size at 1,000 series x 1 target", "not measured in this run",
                     "–"])
    bigger = [(k[1], k[2], v) for k, v in summary.items() if isinstance(k, tuple) and k[0] == "footprint"]
    for series, targets, med in sorted(bigger):
        if (series, targets) == (1000, 1):
            continue
        d = med.get(("ours", "disk"))
        if d is not None:
            rows.append([f"WAL < 2 MiB at {series:,} series x {targets} target(s) (healthy endpoint)",
                         f"{d / 1024:.2f} MiB", _verdict(d / 1024 < 2.0)])
    size = ctx.ours_binary_size
    rows.append(["release binary < 10 MiB (dynamically linked, not stripped)", f"{size / MIB:.1f} MiB",
                 _verdict(size / MIB < 10.0)])
    if "parser" in summary and summary["parser"]:
        worst = min(summary["parser"])
        rows.append(["parser >= 3x Prometheus's Go parser (samples/s) on every payload",
                     f"worst payload {worst:.1f}x", _verdict(worst >= 3.0)])
    else:
        rows.append(["parser >= 3x Prometheus's Go parser", "not measured in this run", "–"])
    if "encode" in summary:
        rows.append(["remote-write encoding (no numeric target): ours vs protoc-generated code, samples/s",
                     f"{summary['encode']:.1f}x", "–"])
    for series, targets, med in sorted(bigger):
        expected = series * targets / ctx.interval
        short = [n for (n, key), v in med.items() if key == "samples_per_s" and v < 0.9 * expected]
        if short:
            rows.append([f"valid footprint comparison at {series:,} series x {targets} target(s)",
                         f"not valid: {', '.join(sorted(short))} delivered < 90% of {expected:,.0f} samples/s",
                         "–"])
    loss = summary.get("loss", {}).get("ours")
    if loss:
        lost = loss["outage_lost"] + loss["kill_lost_before"] + loss["kill_lost_after"] + loss["other_lost"]
        rows.append(["no acknowledged sample lost across a 20 s outage and a SIGKILL during an outage",
                     f"{lost} scrapes lost, {loss['duplicates']} extra copies", _verdict(lost == 0)])
    rows += _operator_targets(summary)
    return rows


def _operator_targets(summary):
    rows = []
    w = summary.get("webhook")
    if w:
        rows.append(["webhook: p99 < 1 ms at 1,000 requests/s (server-side, worse of injected / skipped pod)",
                     f"{w['p99'] * 1e3:.2f} ms at {w['paced_rate']:.0f} req/s", _verdict(w["p99"] < 1e-3)])
        rows.append(["webhook: > 10,000 requests/s on one core (worse of the two pods)",
                     f"{w['rate']:,.0f} req/s measured; {w['per_core']:,.0f} per full core (1 / CPU per review)",
                     _verdict(w["rate"] > 10000)])
    else:
        rows.append(["webhook: p99 < 1 ms at 1,000 req/s; > 10,000 req/s on one core", "not measured in this run",
                     "–"])
    f = summary.get("fanout")
    if f:
        rows.append([f"fan-out: Secret writes for one remoteWrite change = namespaces ({f['pods']:,} pods)",
                     f"{f['secret_writes']} Secret writes / {f['namespaces']} namespaces "
                     f"({sum(f['change_writes'].values())} writes in all)",
                     _verdict(f["secret_writes"] == f["namespaces"])])
        rss = max(f["idle_mem"]["rss"], f["change_peak"].get("rss", 0)) / MIB
        rows.append([f"fan-out: operator memory < 64 MiB at {f['pods']:,} pods (RSS, idle and during the change)",
                     f"{rss:.1f} MiB ({rss * 1024 / f['pods']:.1f} KiB per pod)",
                     _verdict(rss < 64) if f["pods"] >= 10000 else "– (fewer than 10,000 pods)"])
    else:
        rows.append(["fan-out: writes = namespaces; operator memory < 64 MiB at 10,000 pods",
                     "not measured in this run", "–"])
    st = summary.get("storm")
    if st:
        for kind, r in st["results"].items():
            rows.append([f"reload storm (no numeric target): {r['count']} x {r['label']}",
                         f"all reloaded in {statistics.median(x['all_reloaded_s'] for x in r['runs']):.2f} s, "
                         f"{statistics.median(x['extra_cpu_s'] for x in r['runs']):.2f} CPU s", "–"])
    return rows


def render(ctx, argv, tables, summary, skipped, elapsed, machine, versions, format_table):
    command = "bench/run " + " ".join(a for a in argv[1:])
    out = []
    out.append("# Benchmarks\n")
    out.append("Generated by `bench/run --write-docs` (bench/bench_docs.py); do not edit by hand: rerun it.\n")
    out.append("## How this was measured\n")
    out.append(f"- Command: `{command.strip()}` ({elapsed / 60:.0f} min), "
               f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.")
    load = getattr(ctx, "loadavg", None)
    load_text = (f" Load average (1 min) {load[0]:.1f} at the start and {load[1]:.1f} at the end of the run on "
                 f"{machine.split(' ')[0]} CPUs." if load else "")
    out.append(f"- Machine: {machine}. The machine is shared (other builds ran at the same time), so CPU "
               f"figures carry noise; the min–max spread next to each median shows how much.{load_text}")
    for name, text in versions.items():
        out.append(f"- {name}: {text}.")
    for name, why in skipped:
        out.append(f"- {name}: skipped ({why}).")
    out.append("- Quick matrix by default (footprint at 1,000 and 10,000 series x 1 target, one run each, 20 s "
               "warm-up, 20 s window; webhook 3 runs; fan-out 10,000 pods / 100 namespaces, one run; reload storm "
               "200 agents and 50 Prometheus pairs, 3 storms each); `bench/run --full` runs 100 / 1,000 / 10,000 "
               "series x 1 / 5 targets, 3 runs each, 60 s warm-up, 30 s window, the webhook 5 runs and the storm "
               "with 200 Prometheus pairs when they fit. `bench/run --smoke` (tiny, seconds) is the ctest "
               "`bench.smoke` and only proves the programs still run; no figure is ever compared with a threshold "
               "in a test.")
    out.append("")
    out.append("Footprint method: all agents run at the same time against the same target process (bench/bench_target: "
               "every series changes value on every scrape; the pages are rendered and gzip-compressed once, in a "
               "ring of 4 variants, and each response is spliced from them with only the per-path scrape counter "
               "made per request, so serving a 10,000-series page costs a copy, not a render and a gzip) and the same counting receiver (bench/bench_receiver: "
               "decodes every remote-write request and counts samples); each agent scrapes through its own path and "
               "writes to its own receiver path, so scrapes and samples are counted per agent, and all agents share "
               "the same machine noise. Interval 1 s, default queue settings of each agent. After the warm-up: "
               "CPU = utime + stime from /proc/PID/stat over the window, divided by the samples the receiver got "
               "from that agent in the window (µs per sample = CPU seconds per million samples); memory from "
               "/proc/PID/smaps_rollup and /proc/PID/status at the end of the window: "
               "*private (issue 3's definition)* = RssAnon + private dirty file pages (Private_Dirty − Anonymous); "
               "*private (all)* = Private_Clean + Private_Dirty, every page no other process maps; RSS; PSS. "
               "On disk = allocated blocks (as du counts) of the agent's WAL / data directory. "
               "`ours-tls` is our agent writing over HTTPS (self-signed CA in tls_config.ca_file) to a TLS receiver: "
               "the configuration issue 3's memory target names.\n")
    out.append("Loss method: one target per agent path whose `bench_scrapes_total` is the number of that scrape, "
               "so every value the receiver never got is exactly one lost scrape. The receiver stops listening "
               "(connection refused) for the outage; later it stops again, the agents are SIGKILLed during that "
               "outage, restarted on the same WAL / data directory, and the receiver comes back a few seconds "
               "later. Counts are taken from the target's per-path scrape counter at each event.\n")
    out.append("Parser method: bench/parser_throughput (ours) and bench/goparser (Prometheus's model/textparse "
               "at the version in bench/goparser/go.mod) parse the same generated pages in the same run, each for "
               "the same time, materialising every series' labels (our parser's label views; Go's `Labels()`, what "
               "Prometheus's scrape loop calls on a series-cache miss). The text and OpenMetrics versions of a "
               "page hold the same samples.\n")
    out.append("Webhook method: bench/webhook_server hosts the operator's real AdmissionServer (TLS with a "
               "certificate from the operator's own certificate code) and the real PodInjectionWebhook; the "
               "cluster facts are fixed in memory (one Sidecar agent, the cluster default, admitting the pods' "
               "namespace), so this measures the webhook path, not an API server. The server is pinned to CPU 0 "
               "(`taskset -c 0`), wrk (Debian's, 1 thread, 8 kept-alive connections = the server's worker threads) "
               "to CPU 1, with bench/webhook.lua POSTing one AdmissionReview of a realistic Deployment pod "
               "(~2.4 KB): one that opts in (injected: the answer carries a ~3 KB JSON patch) and one that does "
               "not (skipped: not opted in, no patch). Saturation = wrk without pauses. The 1,000 requests/s "
               "phase is paced with a Lua `delay()` per connection (wrk2 is not in Debian; the pause comes on top "
               "of each request's own time, so a short calibration run at the nominal pause measures that time "
               "and the pause is shortened by it, in whole milliseconds); the delay used and the rate achieved are in the table. Server-side latency = the interval the operator's own "
               "latency metric measures (the AdmissionReview read, decide, encode; TLS and HTTP parsing are "
               "outside it), from a histogram with buckets 10% apart added by the bench program, interpolated "
               "linearly; wrk's client-side percentiles (TLS, HTTP, loopback included) are shown beside it. Each "
               "review's outcome is checked against the server's injection counter. No reference webhook is "
               "measured in the same run (none is installed).\n")
    out.append("Fan-out method: bench/fanout.py starts its own kube-apiserver + etcd (`scripts/cluster up "
               "--state-dir` in a temp dir, audit log at Metadata level), installs the CRD and the operator's "
               "RBAC, runs the release `promsidecar-operator run --leader-election=false` as its ServiceAccount "
               "(a token, so the audit log separates its requests from the benchmark's), one Sidecar "
               "PrometheusAgent admitting namespaces labelled `bench=fanout`, and creates the pods with a small "
               "HTTPS client (8 threads) as `promsidecar-operator inject` leaves them (pod objects only, nothing "
               "runs them). API requests are counted per request (audit ID) by the operator's user. Memory from "
               "/proc (RSS, RssAnon + private dirty file pages, PSS), sampled every second while idle and every "
               "poll during the change (peak). The change is a JSON patch of `spec.remoteWrite[0].url`; the "
               "clock stops when one LIST of the Secrets shows the new URL in every namespace (polled every "
               "0.2 s). One run per size: creating 10,000 pods dominates the cost.\n")
    out.append("Reload-storm method: bench/reload_storm.py gives every sidecar the files a pod would have "
               "(annotations and labels as downwardAPI files, the shared config as a Secret volume), laid out "
               "and swapped like the kubelet's AtomicWriter (`..<timestamp>` dir, `..data` symlink renamed "
               "over); all scrape one bench_target (own path each, 5 s interval) and write to one bench_receiver. "
               "A storm writes every new payload first, then does all `..data` renames back to back (the "
               "remote-write URL moves to a new path). Time to reload = each process's own reload timestamp "
               "(promsidecar-agent: `promsidecar_agent_config_last_reload_success_timestamp_seconds`; Prometheus "
               "pairs: the renderer's `promsidecar_renderer_last_success_timestamp_seconds`, set once "
               "Prometheus answered its `/-/reload`) minus the time of the first rename. CPU = utime + stime of "
               "every process of the fleet from the first rename until all had reloaded; the storm's cost "
               "subtracts the fleet's CPU rate of a quiet window measured just before. Every sidecar must then "
               "deliver to its new URL or the run fails. Prometheus pairs: Debian's Prometheus in agent mode "
               "(`--enable-feature=agent --web.enable-lifecycle`) with promsidecar-agent "
               "`--render-prometheus-config --reload-url` beside it, as many as fit in half of MemAvailable.\n")
    out.append("## Targets\n")
    out.append(format_table("", ["target", "measured (median)", "verdict"], _targets(ctx, summary, versions)).lstrip())
    out.append("")
    out.append("## Tables\n")
    for title, header, rows in tables:
        out.append(f"**{title}**\n")
        out.append(format_table("", header, rows).lstrip())
        out.append("")
    missing = [(k, t) for k, t in [("encode", "Remote-write encoding"), ("webhook", "Webhook"),
                                   ("fanout", "Fan-out at scale"), ("storm", "Reload storm")] if k not in summary]
    if missing:
        out.append("## Not measured in this run\n")
        for k, t in missing:
            out.append(f"- {t}: `bench/run --only={k}`.")
        out.append("")
    return "\n".join(out)
