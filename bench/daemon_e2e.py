"""The embedded daemon end to end: 10,000 availability targets at a 60 s interval.

Its own scheduler, prober, the batched store writer (SQLite) and /metrics, against one
local nginx. After one interval of warm-up (first runs are spread over the interval), for
`--measure` seconds: checks stored per second, the daemon's CPU seconds per check (from its
own process_cpu_seconds_total, so storing and exporting are in it), scheduling lag p50/p99
(its egov_scheduler_lag_seconds histogram, interpolated like histogram_quantile), and the
time of a /metrics scrape taken every 10 s meanwhile (size, median, worst; the first
scrape since the start among them). In the middle of the window the configuration is
reloaded as an operator would (POST /-/reload), and the next scrape follows 1 s later.

Side by side in the same run, afterwards: the same targets probed by blackbox_exporter as
Prometheus drives it (Prometheus scraping /probe for each target every 60 s and storing
the results in its TSDB): the peer's CPU seconds per check (blackbox plus Prometheus), and
its scheduling delay as Prometheus measures it (prometheus_target_interval_length_seconds,
the actual interval minus the configured one).

With `--locations 2` every target is probed from two locations (both this machine's network,
settings.yaml `locations:`) and the votes combined (issue 39): what the locations cost the daemon.

Run: make bench   (or: PYTHONPATH=. .venv/bin/python -m bench.daemon_e2e --targets 10000 --measure 180)
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

from bench.peers import blackbox, need, nginx, process_cpu_seconds
from bench.soak import histogram, proc_status, quantile, scalar
from tests.daemon import DaemonProcess
from tests.servers import free_port


def catalog(directory: Path, base: str, n: int, interval: int, port: int, locations: int = 1) -> Path:
    names = [f"standort{k}" for k in range(locations)] if locations > 1 else []
    where = f", locations: [{', '.join(names)}]" if names else ""
    lines = ["services:"]
    timeout = min(5, max(1, interval // 2))  # 5 s; shorter in a tiny run, as a run must fit its interval
    for i in range(n):
        lines += [f"  - id: s{i:05d}", f"    name: Dienst {i}", "    category: efa", "    operator: Land Saarland",
                  "    contact: ops@example.invalid", f'    urls: ["{base}/s{i}"]', "    checks:",
                  f"      availability: {{interval: {interval}s, timeout: {timeout}s, retries: 0{where}}}"]
    (directory / "catalog.yaml").write_text("\n".join(lines) + "\n")
    settings = directory / "settings.yaml"
    text = (f'catalog: [catalog.yaml]\nlisten: "127.0.0.1:{port}"\n'
            f'store: {{url: "sqlite:///{directory / "store.db"}"}}\n')
    if names:  # each a location of its own, all in this machine's network: the daemon's cost of the votes
        text += "locations:\n" + "".join(f"  - {{name: {name}, local: true}}\n" for name in names)
    settings.write_text(text)
    return settings


def ours(base: str, n: int, interval: int, measure: float, locations: int = 1) -> dict:
    with tempfile.TemporaryDirectory(prefix="egov-e2e-") as tmp:
        settings = catalog(Path(tmp), base, n, interval, free_port(), locations)
        daemon = DaemonProcess(settings, log_level="WARNING")
        try:
            daemon.wait_ready(timeout=120)
            time.sleep(interval + min(10, interval))  # warm-up: the first runs are spread over one interval
            s = time.perf_counter()
            t0, text0 = time.monotonic(), daemon.get("/metrics")[1]  # the first scrape since the start
            scrapes, sizes, reloaded = [time.perf_counter() - s], [], False
            while time.monotonic() - t0 < measure:
                if not reloaded and time.monotonic() - t0 >= measure / 2:
                    # an operator's reload in the middle: the whole catalog read and applied again
                    assert daemon.post("/-/reload")[0] == 200
                    reloaded = True
                    time.sleep(1)
                else:
                    time.sleep(min(10, interval))  # a scrape every 10 s (a tiny run's interval if shorter)
                s = time.perf_counter()
                status, text = daemon.get("/metrics")
                scrapes.append(time.perf_counter() - s)
                sizes.append(len(text.encode()))
                assert status == 200
            wall = time.monotonic() - t0
            lag = "egov_scheduler_lag_seconds"
            stored = scalar(text, "egov_store_written_results_total") - scalar(text0, "egov_store_written_results_total")
            cpu = scalar(text, "process_cpu_seconds_total") - scalar(text0, "process_cpu_seconds_total")
            missed = sum(float(v) for v in re.findall(
                r'^egov_scheduler_missed_runs_total{kind="availability"} (\S+)$', text, re.M))
            return {"checks_per_second": stored / wall, "cpu_per_check_ms": cpu / max(stored, 1) * 1000,
                    "lag_p50": quantile(0.5, histogram(text0, lag), histogram(text, lag)),
                    "lag_p99": quantile(0.99, histogram(text0, lag), histogram(text, lag)),
                    "scrape_median": statistics.median(scrapes), "scrape_max": max(scrapes),
                    "scrape_mb": max(sizes) / 1e6, "rss_mb": proc_status(daemon.proc.pid).get("VmRSS", 0) / 1024,
                    "missed": missed}
        finally:
            daemon.stop(timeout=60)


def theirs(base: str, n: int, interval: int, measure: float) -> dict:
    """Prometheus scraping blackbox_exporter's /probe for every target."""
    with blackbox() as (bb_port, bb_pid), tempfile.TemporaryDirectory(prefix="egov-e2e-prom-") as tmp:
        targets = [f"{base}/s{i}" for i in range(n)]
        (Path(tmp) / "targets.json").write_text(json.dumps([{"targets": targets}]))
        prom_port = free_port()
        (Path(tmp) / "prometheus.yml").write_text(f"""
global: {{scrape_interval: {interval}s, scrape_timeout: {min(10, interval)}s}}
scrape_configs:
  - job_name: blackbox
    metrics_path: /probe
    params: {{module: [http_2xx]}}
    file_sd_configs: [{{files: ["{tmp}/targets.json"]}}]
    relabel_configs:
      - {{source_labels: [__address__], target_label: __param_target}}
      - {{source_labels: [__param_target], target_label: instance}}
      - {{target_label: __address__, replacement: "127.0.0.1:{bb_port}"}}
""")
        prom = subprocess.Popen([need("prometheus"), f"--config.file={tmp}/prometheus.yml",
                                 f"--storage.tsdb.path={tmp}/tsdb", f"--web.listen-address=127.0.0.1:{prom_port}",
                                 "--log.level=error"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            def query(expr: str) -> float:
                url = f"http://127.0.0.1:{prom_port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
                with urllib.request.urlopen(url, timeout=30) as resp:
                    data = json.load(resp)["data"]["result"]
                return float(data[0]["value"][1]) if data else 0.0

            end = time.monotonic() + 60
            while time.monotonic() < end:
                try:
                    query("up")
                    break
                except OSError:
                    time.sleep(0.5)
            time.sleep(interval + min(10, interval))

            def own(pattern: str) -> float:
                """A figure of Prometheus' own /metrics (not in its TSDB: it does not scrape itself here)."""
                with urllib.request.urlopen(f"http://127.0.0.1:{prom_port}/metrics", timeout=30) as resp:
                    text = resp.read().decode()
                return sum(float(v) for v in re.findall(rf"^{pattern} (\S+)$", text, re.M))

            cpu0 = process_cpu_seconds(bb_pid) + process_cpu_seconds(prom.pid)
            count = r"prometheus_target_interval_length_seconds_count\{[^}]*\}"
            scraped0 = own(count)
            t0 = time.monotonic()
            time.sleep(measure)
            wall = time.monotonic() - t0
            cpu = process_cpu_seconds(bb_pid) + process_cpu_seconds(prom.pid) - cpu0
            scraped = own(count) - scraped0
            p99 = own(r'prometheus_target_interval_length_seconds\{[^}]*quantile="0.99"[^}]*\}')
            p50 = own(r'prometheus_target_interval_length_seconds\{[^}]*quantile="0.5"[^}]*\}')
            up = query('sum(probe_success)')
            return {"checks_per_second": scraped / wall, "cpu_per_check_ms": cpu / max(scraped, 1) * 1000,
                    "interval_p99_delay": p99 - interval, "interval_p50_delay": p50 - interval, "up": up}
        finally:
            prom.terminate()
            prom.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", type=int, default=10_000)
    parser.add_argument("--interval", type=int, default=60)
    parser.add_argument("--measure", type=float, default=180.0)
    parser.add_argument("--locations", type=int, default=1,
                        help="probe each target from this many locations (settings.yaml `locations:`, all local), "
                             "the votes combined by quorum; the peer has no such notion and probes once")
    args = parser.parse_args()
    with nginx() as port:
        base = f"http://127.0.0.1:{port}"
        a = ours(base, args.targets, args.interval, args.measure, args.locations)
        where = f", each from {args.locations} locations" if args.locations > 1 else ""
        print(f"egov-monitor run, {args.targets} targets every {args.interval} s{where} (SQLite, one process):")
        print(f"  checks stored/s {a['checks_per_second']:.1f} (due: {args.targets / args.interval:.1f}), "
              f"CPU per check {a['cpu_per_check_ms']:.2f} ms, RSS {a['rss_mb']:.0f} MB, missed runs {a['missed']:.0f}")
        print(f"  scheduling lag p50 {a['lag_p50'] * 1000:.1f} ms, p99 {a['lag_p99'] * 1000:.1f} ms (goal p99 < 1 s) "
              f"-> {'OK' if a['lag_p99'] < 1 else 'ZU HOCH'}")
        print(f"  /metrics {a['scrape_mb']:.1f} MB, scrape median {a['scrape_median']:.3f} s, worst "
              f"{a['scrape_max']:.3f} s (goal < 1 s) -> {'OK' if a['scrape_max'] < 1 else 'ZU HOCH'}", flush=True)
        b = theirs(base, args.targets, args.interval, args.measure)
        print("blackbox_exporter driven by Prometheus (scrape, probe, TSDB), same targets:")
        print(f"  checks/s {b['checks_per_second']:.1f}, CPU per check {b['cpu_per_check_ms']:.2f} ms "
              f"(blackbox + Prometheus), probe_success sum {b['up']:.0f}")
        print(f"  interval delay p50 {b['interval_p50_delay'] * 1000:.1f} ms, p99 {b['interval_p99_delay'] * 1000:.1f} ms")
        print(f"ratio CPU per check, ours/theirs: {a['cpu_per_check_ms'] / max(b['cpu_per_check_ms'], 1e-9):.2f}x "
              "(less is better)")


if __name__ == "__main__":
    main()
