"""Benchmark: the public status page of 1,000 services with a year of history.

1. Rendering, in a process of its own: a store with a year of availability results for
   1,000 public services (one result per 15 minutes: the hourly and daily rollups are as
   many as a year at 60 s would give) and 300 incident records with three updates each.
   Measured: a cold /status/ (read the store, compute the 90 days, render the page), a
   re-rendering as the running page does it (the days before today kept), the
   Atom feed, one service page, the full static export, and the memory the page costs
   beside what the process already holds (peak RSS during rendering minus RSS before).
   Goal of issue 20: under 1 s and 200 MB.
2. Under load, the real daemon: the same catalog with its URLs on a local nginx, every
   service checked every 10 s (100 checks/s), first 60 s without page requests, then
   60 s with bursts of 100 concurrent /status/ requests every second (with Accept-Encoding:
   gzip, as browsers send; requests before both windows start the status process and let
   it and the daemon render once, so neither cold rendering is in them),
   then 60 s of the same bursts at nginx instead (the control: the load generator runs on
   the same two cores and costs the daemon CPU whoever it asks). Measured: scheduling
   lag p50/p99 of both phases (the daemon's egov_scheduler_lag_seconds), requests answered
   and their latency, whether the caching headers are sent, and the peak memory of the
   status process (monitor/statuspage/serve.py), which answers /status beside the daemon.

No peer status page (Uptime Kuma, Gatus) can be installed on this machine (neither is a
Debian package or an npm module); the ratios printed are figure / goal, as in bench.report.

    python -m bench.statuspage [--services 1000] [--dir var/bench-statuspage] [--load 60]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import statistics
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

from bench.peers import nginx
from bench.soak import histogram, quantile
from tests.daemon import DaemonProcess
from tests.servers import free_port

ROOT = Path(__file__).resolve().parent.parent


def catalog(d: Path, n: int, base: str, port: int) -> Path:
    lines = ["services:"]
    for i in range(n):
        category = "basisdienst" if i % 7 == 0 else "efa" if i % 3 == 0 else "kommune"
        lines += [f"  - id: dienst-{i:04d}", f"    name: Dienst {i:04d}", f"    category: {category}",
                  "    operator: Land Saarland", "    contact: ops@example.invalid", f'    urls: ["{base}/d{i}"]',
                  f"    availability_target: {(99.9, 99.5, 99.0)[i % 3]}", "    public: true",
                  "    checks: {availability: {interval: 10s, timeout: 5s, retries: 0}}"]
    (d / "catalog.yaml").write_text("\n".join(lines) + "\n")
    settings = d / "settings.yaml"
    settings.write_text(f'catalog: [catalog.yaml]\nlisten: "127.0.0.1:{port}"\n'
                        f'store: {{url: "sqlite:///{d / "store.db"}"}}\npools: {{http: 32}}\n')
    return settings


HISTORY = """
import json, sys, time
import numpy as np
from pathlib import Path
from bench.synthetic_year import _availability_result
from monitor.config import load_config
from monitor.incidents import CAUSES, Incident, IncidentBook, Update
from monitor.store import Store
from monitor.kinds import builtin

KINDS = builtin()
settings = Path(sys.argv[1])
config = load_config(settings, KINDS)
store = Store.open(config.store_url, config.kinds, tz=config.settings.tz)
rng = np.random.default_rng(20)
now = time.time()
t0 = time.perf_counter()
n = 0
for svc in config.services.values():
    t = np.arange(now - 365 * 86400, now - 600, 900.0)
    states = np.zeros(len(t), dtype=np.int64)
    for _ in range(rng.poisson(5)):
        b = rng.integers(0, len(t))
        states[b:b + int(rng.integers(1, 8))] = 3  # down
    latency = rng.lognormal(np.log(0.15), 0.35, len(t))
    latency[states == 3] = np.nan
    reasons = ["http_status" if s == 3 else "ok" for s in states.tolist()]
    url = svc.urls[0]
    def make(i, t=t, states=states, latency=latency, sid=svc.id, url=url):
        lat = 0.0 if np.isnan(latency[i]) else float(latency[i])
        down = states[i] == 3
        return _availability_result(sid, url, float(t[i]), "down" if down else "up", "http_status" if down else "ok",
                                    lat, False)
    store.ingest_series(svc.id, "availability", url, t, states, reasons, latency, np.zeros(len(t), dtype=bool),
                        make, raw_since=now - 7 * 86400)
    n += len(t)
ids = list(config.services)
book = IncidentBook(store)
causes = list(CAUSES)
for k in range(300):
    start = now - rng.uniform(0, 365 * 86400)
    open_ = k < 20
    ups = tuple(Update(start + 600 * j, ("investigating", "identified", "resolved")[j] if not open_ or j < 2
                       else "monitoring", f"Meldung {j} zu Vorfall {k}: Ursache wird behoben.") for j in range(3))
    book.add(Incident(f"b-{k}", "incident", f"Vorfall {k}", causes[k % 5], None,
                      tuple(ids[int(i)] for i in rng.choice(len(ids), 3, replace=False)), start,
                      None if open_ else start + 1800, "cli", ups))
print(json.dumps({"results": n, "seconds": time.perf_counter() - t0}))
"""

RENDER = """
import json, resource, sys, time, tempfile
from pathlib import Path
from monitor.config import load_config
from monitor.kinds import builtin
KINDS = builtin()
from monitor.statuspage import StatusSite, export
from monitor.store import Store

def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
config = load_config(Path(sys.argv[1]), KINDS)
store = Store.open(config.store_url, config.kinds, tz=config.settings.tz)
from monitor.statuspage import read_current
rows = read_current(config, store)
before = rss()
times = []
for _ in range(5):
    site = StatusSite(lambda: config, store)  # a new site: nothing cached (it reads the states itself)
    t = time.perf_counter()
    r = site.respond("/status/")
    times.append(time.perf_counter() - t)
    assert r.code == 200, r.code
size = len(r.body)
from monitor.statuspage import History, collect, environment, render_index
history, warm = History(), []
collect(config, store, rows, None, history)
for _ in range(5):  # a rendering of the running page: the days before today are kept
    t = time.perf_counter()
    render_index(environment(config), collect(config, store, rows, None, history))
    warm.append(time.perf_counter() - t)
t = time.perf_counter(); feed = site.respond("/status/feed.xml"); feed_s = time.perf_counter() - t
t = time.perf_counter(); page = site.respond("/status/dienst/dienst-0001.html"); page_s = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
with tempfile.TemporaryDirectory() as out:
    t = time.perf_counter(); files = export(config, store, Path(out)); export_s = time.perf_counter() - t
print(json.dumps({"cold": times, "warm": warm, "bytes": size, "feed_s": feed_s, "service_page_s": page_s, "export_s": export_s,
                  "files": len(files), "rss_before_mb": before, "peak_mb": peak, "headers": r.headers}))
"""


def child(script: str, *args: str) -> dict:
    done = subprocess.run([sys.executable, "-c", script, *args], cwd=ROOT, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        sys.exit(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def children_memory(pid: int) -> tuple[float, int]:
    """Peak RSS in MB summed over the daemon's child processes (the status process and
    multiprocessing's resource tracker), and how many there are."""
    kids: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        kids.update(int(k) for k in (task / "children").read_text().split())
    peak = 0.0
    for kid in kids:
        for line in Path(f"/proc/{kid}/status").read_text().splitlines():
            if line.startswith("VmHWM"):
                peak += int(line.split()[1]) / 1024
    return peak, len(kids)


def scrape(daemon: DaemonProcess) -> str:
    return daemon.get("/metrics")[1]


def bursts(url: str, seconds: float, headers: dict[str, str]) -> list[float]:
    """Every second 100 concurrent GETs of `url` (Accept-Encoding: gzip, as browsers send);
    their latencies, sorted. The response headers of the last one go into `headers`."""
    latencies: list[float] = []

    def get() -> float:
        t = time.perf_counter()
        request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})
        with urllib.request.urlopen(request, timeout=60) as resp:
            resp.read()
            headers.update(resp.headers.items())
        return time.perf_counter() - t

    with concurrent.futures.ThreadPoolExecutor(100) as pool:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            burst = time.monotonic()
            latencies += list(pool.map(lambda _i: get(), range(100)))
            time.sleep(max(0.0, 1.0 - (time.monotonic() - burst)))
    return sorted(latencies)


def under_load(settings: Path, port: int, load: float, other: str, settle: float = 25.0) -> dict:
    """Lag without requests, with the bursts at the daemon's /status/, and with the same
    bursts at `other` (nginx): what the load generator's own CPU use costs the daemon."""
    daemon = DaemonProcess(settings, log_level="WARNING")
    try:
        daemon.wait_ready(timeout=300)
        time.sleep(settle)  # the first runs are spread over 10 s; then steady
        url = f"http://127.0.0.1:{port}/status/"
        # The first request starts the status process (the daemon answers it itself, one cold
        # rendering); the process then renders once more for itself. Neither is in the windows.
        urllib.request.urlopen(url, timeout=120).read()
        deadline = time.monotonic() + 120
        while children_memory(daemon.proc.pid)[1] == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        for _ in range(3):
            urllib.request.urlopen(url, timeout=120).read()
        lag = "egov_scheduler_lag_seconds"

        def window(before: str, after: str) -> tuple[float, float, float, float]:
            """p50, p99 (interpolated in the histogram's buckets: 10 ms, 50 ms, ...), the share
            of runs that started within the first bucket (10 ms), and the number of runs."""
            a, b = histogram(before, lag), histogram(after, lag)
            runs = b.get(float("inf"), 0.0) - a.get(float("inf"), 0.0)
            within = (b.get(0.01, 0.0) - a.get(0.01, 0.0)) / runs if runs else 0.0
            return quantile(0.5, a, b), quantile(0.99, a, b), within, runs

        text0 = scrape(daemon)
        time.sleep(load)
        text1 = scrape(daemon)
        headers: dict[str, str] = {}
        latencies = bursts(url, load, headers)
        text2 = scrape(daemon)
        beside, processes = children_memory(daemon.proc.pid)
        bursts(other, load, {})
        text3 = scrape(daemon)
        return {"quiet_lag": window(text0, text1), "busy_lag": window(text1, text2), "control_lag": window(text2, text3),
                "requests": len(latencies), "req_p50": statistics.median(latencies),
                "req_p99": latencies[int(0.99 * (len(latencies) - 1))],
                "cache_control": headers.get("Cache-Control"), "etag": bool(headers.get("ETag")),
                "encoding": headers.get("Content-Encoding"), "beside_mb": beside, "processes": processes}
    finally:
        daemon.stop(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--dir", type=Path, default=ROOT / "var" / "bench-statuspage")
    parser.add_argument("--load", type=float, default=60.0, help="seconds of each phase under load")
    parser.add_argument("--settle", type=float, default=25.0, help=(
        "seconds after the start before the measuring begins (the first runs are spread over 10 s)"))
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    with nginx() as target:
        settings = catalog(args.dir, args.services, f"http://127.0.0.1:{target}", port)
        marker = args.dir / f"history-{args.services}.json"
        if not marker.exists():
            (args.dir / "store.db").unlink(missing_ok=True)
            print(f"schreibe ein Jahr Verlauf für {args.services} Dienste ...", flush=True)
            marker.write_text(json.dumps(child(HISTORY, str(settings))))
        history = json.loads(marker.read_text())
        r = child(RENDER, str(settings))
        load = under_load(settings, port, args.load, f"http://127.0.0.1:{target}/status/", args.settle)
    def within(w: tuple[float, float, float, float]) -> str:
        return f"({w[2] * 100:.2f} % von {w[3]:,.0f} Läufen in 10 ms)"

    cold = statistics.median(r["cold"])
    cost = r["peak_mb"] - r["rss_before_mb"]
    print(textwrap.dedent(f"""
        Statusseite, {args.services} öffentliche Dienste, ein Jahr Verlauf ({history['results']:,} Ergebnisse,
        geschrieben in {history['seconds']:.0f} s), 300 Störungseinträge:
          /status/ kalt (Median von 5): {cold:.3f} s   (Ziel 1 s: {cold / 1.0:.2f}x)   {r['bytes'] / 1e6:.2f} MB HTML
          erneut gerendert im laufenden Betrieb (Median von 5): {statistics.median(r['warm']):.3f} s
          Speicher dafür (Spitze - vorher): {cost:.0f} MB   (Ziel 200 MB: {cost / 200:.2f}x)
          Atom-Feed {r['feed_s']:.3f} s, Dienstseite {r['service_page_s']:.3f} s, statischer Export
          ({r['files']} Dateien) {r['export_s']:.1f} s
          Cache-Control: {r['headers'].get('Cache-Control')}, ETag: {'ja' if r['headers'].get('ETag') else 'nein'}
        Daemon mit {args.services} Prüfzielen alle 10 s, je {args.load:.0f} s:
          Planungsverzug ohne Abrufe  p50 {load['quiet_lag'][0] * 1000:.0f} ms  p99 {load['quiet_lag'][1] * 1000:.0f} ms  {within(load['quiet_lag'])}
          mit 100 gleichzeitigen Abrufen je Sekunde ({load['requests']} Abrufe, Antwort p50
          {load['req_p50'] * 1000:.0f} ms, p99 {load['req_p99'] * 1000:.0f} ms):
                                      p50 {load['busy_lag'][0] * 1000:.0f} ms  p99 {load['busy_lag'][1] * 1000:.0f} ms  {within(load['busy_lag'])}
          dieselben Abrufe an nginx statt an den Daemon (was der Lastgenerator selbst kostet):
                                      p50 {load['control_lag'][0] * 1000:.0f} ms  p99 {load['control_lag'][1] * 1000:.0f} ms  {within(load['control_lag'])}
          Verhältnis p99 Abrufe an den Daemon / an nginx: {load['busy_lag'][1] / max(load['control_lag'][1], 1e-3):.2f}x,
          an den Daemon / ohne Abrufe: {load['busy_lag'][1] / max(load['quiet_lag'][1], 1e-3):.2f}x
          Cache-Control: {load['cache_control']}, ETag: {'ja' if load['etag'] else 'nein'}, Content-Encoding: {load['encoding']}
          Statusprozess neben dem Daemon ({load['processes']} Prozesse, Spitze): {load['beside_mb']:.0f} MB
          (Ziel 200 MB: {load['beside_mb'] / 200:.2f}x)
    """).rstrip())


if __name__ == "__main__":
    main()
