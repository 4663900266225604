"""Soak: the embedded daemon for a simulated day against a local estate of 300 targets.

The estate (one local web server, 127.0.0.1): healthy pages, slow ones (0.6 s), failing
ones (503), flapping ones (200 and 503 in turn, switching every simulated 20 minutes),
hostile ones (a body that never ends, 50 MB bodies, answers later than the timeout), and
browser pages for the accessibility and DSGVO checks (good, with barriers, an endless
script loop, a page that never finishes loading, an alert box). Security checks run on
a share of the HTTP targets.

Time is scaled: a simulated day lasts `--minutes` of wall time (default 32), so with the
factor F = 1440 / minutes every interval is divided by F: availability 60 s -> 60/F s
(1.33 s at the default), security hourly -> 3600/F s (80 s), accessibility and DSGVO every
two hours -> 7200/F s (160 s). The shipped catalog runs security every 6 h and the browser
checks daily, so the soak runs them 6 and 12 times as often as a real day. Timeouts are not
scaled (1 s for HTTP, 15 s for browsers), which makes the run harder, not easier. The HTTP
pool is 64 threads (`pools.http`), the browser pool 2 sessions.

Hostile targets of tests/hostile.py run beside them on a raw server (issue 34): redirects
with raw non-ASCII bytes, control characters and 100 KB in Location, charset=idna, 1,000
Set-Cookie headers, a 200 KB and a 300 KB header, a download as a start page, and for the
browser checks the download, five dialogs on load, frames nested 33 deep and a memory bomb.

Every simulated hour the catalog is reloaded (`--quiet-targets`, default 10,000 further
availability targets with a 24 h interval, so the catalog has about 10,300 targets; each
reload renames the services, so every one is rebuilt), and the daemon's RSS is taken before
and after, when the reload has settled: growth per reload after the third is printed.

Every simulated hour it samples the daemon's RSS, open file descriptors and threads, the
browser processes below it and their RSS, the scheduling lag (from the daemon's own
histogram, p99 interpolated as Prometheus' histogram_quantile does), results written and
the store's size, and prints a row; at the end the growth per simulated day after a
warm-up of two simulated hours (least squares over the rest).

No peer does this; the figures are absolute. Run: make bench   (or:
PYTHONPATH=. .venv/bin/python -m bench.soak --minutes 32)
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
import tempfile
import threading
import time
from pathlib import Path

from tests import a11y_site, hostile
from tests.daemon import DaemonProcess
from tests.servers import free_port
from tests.sites import Page, delayed, hang_after, huge, site

MIX = {"healthy": 170, "slow": 30, "failing": 40, "flapping": 40, "hostile": 20}
BROWSER_PAGES = ["/", "/fehler", "/clean", "/schleife", "/endlos", "/alarm"]
HOSTILE_HTTP = ["/redirect-utf8", "/redirect-latin1", "/redirect-ctl", "/redirect-huge", "/charset-idna",
                "/cookies-1000", "/header-200k", "/header-300k", "/download"]
HOSTILE_BROWSER = ["/download", "/dialogs", "/frames-0", "/memory-bomb"]
SECURITY_EVERY = 10  # every 10th HTTP target also gets the security check


def estate_routes() -> tuple[dict, list[str], list[Page]]:
    """Routes of the estate, the availability paths in order, and the flapping pages."""
    routes: dict = dict(a11y_site.good_routes())
    routes.update(a11y_site.hostile_routes())
    paths, flapping = [], []
    body = b"<!doctype html><html lang=de><title>Dienst</title><p>Willkommen</p></html>"
    for group, n in MIX.items():
        for i in range(n):
            path = f"/{group}/{i}"
            if group == "healthy":
                page = Page(body=body)
            elif group == "slow":
                page = Page(stream=delayed(0.6, body))
            elif group == "failing":
                page = Page(status=503)
            elif group == "flapping":
                page = Page(body=body)
                flapping.append(page)
            else:  # hostile, in turn: never ends, huge, too late
                page = [Page(stream=hang_after(body[:30])), Page(stream=huge(50 * 1024 * 1024)),
                        Page(stream=delayed(3.0, body))][i % 3]
            routes[path] = page
            paths.append(path)
    return routes, paths, flapping


def _http(sid: str, name: str, url: str, fast: float, hourly: float, security: bool) -> list[str]:
    """A service with an availability check (and the security check where `security`)."""
    out = [f"  - id: {sid}", f"    name: {name}", "    category: efa", "    operator: Land Saarland",
           "    contact: ops@example.invalid", f'    urls: ["{url}"]', "    checks:",
           f"      availability: {{interval: {fast:.3f}s, timeout: 1s, retries: 0}}"]
    return out + ([f"      security: {{interval: {hourly:.1f}s, timeout: 5s}}"] if security else [])


def _browser(sid: str, name: str, url: str, hourly: float) -> list[str]:
    """A service with the accessibility and DSGVO checks every two simulated hours."""
    return [f"  - id: {sid}", f"    name: {name}", "    category: kommune", "    operator: Gemeinde",
            "    contact: ops@example.invalid", f'    urls: ["{url}"]', "    checks:",
            f"      accessibility: {{interval: {2 * hourly:.1f}s, timeout: 15s, sitemap: {{enabled: false}}}}",
            f"      gdpr: {{interval: {2 * hourly:.1f}s, timeout: 15s}}"]


def write_config(directory: Path, base: str, paths: list[str], factor: float, port: int, raw: str = "",
                 quiet: int = 0, generation: int = 0) -> Path:
    fast, hourly = 60 / factor, 3600 / factor
    lines = ["services:"]
    for i, path in enumerate(HOSTILE_HTTP):
        lines += _http(f"h{i:02d}", f"Feindlich {i}", raw + path, fast, hourly, i % 3 == 0)
    for i, path in enumerate(HOSTILE_BROWSER):
        lines += _browser(f"hb{i}", f"Feindliche Seite {i}", raw + path, hourly)
    for i in range(quiet):  # the large catalog reloaded every simulated hour; these run once a day
        lines += [f"  - id: q{i:05d}", f"    name: Ruhiger Dienst {i} (Stand {generation})", "    category: efa",
                  "    operator: Land Saarland", "    contact: ops@example.invalid",
                  f'    urls: ["{base}/healthy/{i % 170}?q={i}"]', "    checks:",
                  "      availability: {interval: 24h, timeout: 1s, retries: 0}"]
    for i, path in enumerate(paths):
        lines += _http(f"s{i:03d}", f"Dienst {i}", base + path, fast, hourly, i % SECURITY_EVERY == 0)
    for i, path in enumerate(BROWSER_PAGES):
        lines += _browser(f"b{i}", f"Portal {i}", base + path, hourly)
    (directory / "catalog.yaml").write_text("\n".join(lines) + "\n")
    settings = directory / "settings.yaml"
    settings.write_text(f'catalog: [catalog.yaml]\nlisten: "127.0.0.1:{port}"\n'
                        f'store: {{url: "sqlite:///{directory / "store.db"}"}}\npools: {{http: 64, browser: 2}}\n')
    return settings


# ------------------------------------------------------------------ sampling


def proc_status(pid: int) -> dict[str, int]:
    out = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "Threads"):
                out[key] = int(value.split()[0])
    return out


def _comm(pid: int) -> str:
    """The process's name; "" when it ended meanwhile (browser processes come and go)."""
    try:
        return Path(f"/proc/{pid}/comm").read_text(errors="ignore")
    except OSError:
        return ""


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def histogram(text: str, name: str, kinds: tuple[str, ...] = ("availability",)) -> dict[float, float]:
    """Cumulative bucket counts of `name`, summed over the label sets of `kinds`."""
    buckets: dict[float, float] = {}
    pattern = rf'^{name}_bucket{{kind="(?:{"|".join(kinds)})",le="([^"]+)"}} (\S+)$'
    for m in re.finditer(pattern, text, re.M):
        le = float("inf") if m.group(1) == "+Inf" else float(m.group(1))
        buckets[le] = buckets.get(le, 0.0) + float(m.group(2))
    return buckets


def quantile(q: float, before: dict[float, float], after: dict[float, float]) -> float:
    """histogram_quantile over the increase between two scrapes."""
    delta = sorted((le, after.get(le, 0.0) - before.get(le, 0.0)) for le in after)
    total = delta[-1][1] if delta else 0.0
    if total <= 0:
        return 0.0
    rank, lower, below = q * total, 0.0, 0.0
    for le, count in delta:
        if count >= rank:
            if le == float("inf"):
                return lower
            return lower + (le - lower) * (rank - below) / max(count - below, 1e-9)
        lower, below = le, count
    return lower


def scalar(text: str, name: str) -> float:
    m = re.search(rf"^{name} (\S+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def browser_tmp() -> set[str]:
    """The browser sessions' directories in the temporary directory: their profiles, and what
    Chromium itself puts there (a killed session left its singleton socket's directory behind)."""
    return {p for p in os.listdir(tempfile.gettempdir())
            if p.startswith(("egov-monitor-chromium-", "org.chromium.Chromium."))}


def slope(xs: list[float], ys: list[float]) -> float:
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    var = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var if var else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=32.0, help="wall minutes for one simulated day")
    parser.add_argument("--hours", type=int, default=24, help="simulated hours to run")
    parser.add_argument("--quiet-targets", type=int, default=10_000,
                        help="further targets (24 h interval) in the catalog reloaded every simulated hour")
    args = parser.parse_args()
    factor = 1440 / args.minutes
    hour_wall = 3600 / factor
    routes, paths, flapping = estate_routes()
    with tempfile.TemporaryDirectory(prefix="egov-soak-") as tmp, site(routes) as port, hostile.serve() as raw:
        directory = Path(tmp)
        listen = free_port()
        base = f"http://127.0.0.1:{port}"
        settings = write_config(directory, base, paths, factor, listen, raw, args.quiet_targets)
        reloads: list[tuple[float, float]] = []  # RSS (MB) before and after each reload
        stop = threading.Event()

        def flap() -> None:  # every simulated 20 minutes the flapping targets change state
            up = True
            while not stop.wait(hour_wall / 3):
                up = not up
                for page in flapping:
                    page.status = 200 if up else 503
        threading.Thread(target=flap, daemon=True).start()
        daemon = DaemonProcess(settings, log_level="WARNING")
        rows = []
        tmp_before = browser_tmp()
        try:
            daemon.wait_ready(timeout=60)
            started = time.monotonic()
            print(f"soak: {len(paths)} HTTP targets + {len(BROWSER_PAGES)} browser targets, factor {factor:.0f} "
                  f"(availability every {60 / factor:.2f} s, hourly checks every {hour_wall:.0f} s), "
                  f"{args.hours} simulated hours = {args.hours * hour_wall / 60:.0f} min wall", flush=True)
            print(f"{'h':>3} {'RSS MB':>7} {'fds':>5} {'thr':>4} {'chrome':>6} {'chr MB':>7} {'lag p99':>8} "
                  f"{'browser':>8} {'stored/h':>9} {'store MB':>9} {'tmp':>4}   (lag p99: availability; browser: "
                  "accessibility and DSGVO; tmp: browser directories in the temporary directory)", flush=True)
            last_text = daemon.get("/metrics")[1]
            last_written = scalar(last_text, "egov_store_written_results_total")
            lag, browser = "egov_scheduler_lag_seconds", ("accessibility", "gdpr")
            first_lag = histogram(last_text, lag)
            for hour in range(1, args.hours + 1):
                while time.monotonic() < started + hour * hour_wall:
                    if daemon.proc.poll() is not None:
                        raise SystemExit(f"daemon died:\n{daemon.log()[-3000:]}")
                    time.sleep(1)
                pid = daemon.proc.pid
                if args.quiet_targets and hour < args.hours:
                    before = proc_status(pid).get("VmRSS", 0) / 1024
                    write_config(directory, base, paths, factor, listen, raw, args.quiet_targets, hour)
                    code, answer = daemon.post("/-/reload")
                    if code != 200:
                        raise SystemExit(f"reload refused: {code} {answer[:300]}")
                    time.sleep(min(20.0, hour_wall / 4))  # settled: collected, frozen, rendered
                    reloads.append((before, proc_status(pid).get("VmRSS", 0) / 1024))
                text = daemon.get("/metrics")[1]
                status = proc_status(pid)
                kids = descendants(pid)
                chrome = [k for k in kids if "chrom" in _comm(k)]
                chrome_rss = sum(proc_status(k).get("VmRSS", 0) for k in chrome) / 1024
                lag_now = histogram(text, lag)
                written = scalar(text, "egov_store_written_results_total")
                size = sum(p.stat().st_size for p in directory.glob("store.db*")) / 1e6
                row = {"hour": hour, "rss": status.get("VmRSS", 0) / 1024, "fds": len(os.listdir(f"/proc/{pid}/fd")),
                       "threads": status.get("Threads", 0), "chrome": len(chrome), "chrome_rss": chrome_rss,
                       "lag_p99": quantile(0.99, histogram(last_text, lag), lag_now),
                       "browser_p99": quantile(0.99, histogram(last_text, lag, browser), histogram(text, lag, browser)),
                       "stored": written - last_written, "store_mb": size, "tmp": len(browser_tmp() - tmp_before)}
                rows.append(row)
                print(f"{hour:>3} {row['rss']:>7.1f} {row['fds']:>5} {row['threads']:>4} {row['chrome']:>6} "
                      f"{row['chrome_rss']:>7.1f} {row['lag_p99']:>7.3f}s {row['browser_p99']:>7.1f}s "
                      f"{row['stored']:>9.0f} {row['store_mb']:>9.1f} {row['tmp']:>4}", flush=True)
                last_text, last_written = text, written
            whole_p99 = quantile(0.99, first_lag, histogram(last_text, lag))
        finally:
            stop.set()
            code = daemon.stop(timeout=60)
        warm = [r for r in rows if r["hour"] > 2]
        if len(warm) < 3:
            raise SystemExit("too short for a trend (needs more than 4 simulated hours)")
        hours = [float(r["hour"]) for r in warm]
        rss_day = slope(hours, [r["rss"] for r in warm]) * 24 / warm[0]["rss"] * 100
        fd_day = slope(hours, [float(r["fds"]) for r in warm]) * 24
        thr_day = slope(hours, [float(r["threads"]) for r in warm]) * 24
        print(f"\nafter warm-up (simulated hours 3-{rows[-1]['hour']}), growth per simulated day:")
        print(f"  RSS of the daemon: {rss_day:+.1f} % (from {warm[0]['rss']:.0f} MB; goal under 5 %)  "
              f"-> {'OK' if rss_day < 5 else 'ZU HOCH'}")
        print(f"  open file descriptors: {fd_day:+.1f} per day (range {min(r['fds'] for r in warm)}-"
              f"{max(r['fds'] for r in warm)})")
        print(f"  threads: {thr_day:+.1f} per day (range {min(r['threads'] for r in warm)}-"
              f"{max(r['threads'] for r in warm)})")
        print(f"  browser processes: range {min(r['chrome'] for r in warm)}-{max(r['chrome'] for r in warm)}")
        left = browser_tmp() - tmp_before
        print(f"  browser directories in {tempfile.gettempdir()}: at most {max(r['tmp'] for r in rows)} while running "
              f"(one per live session), {len(left)} left after the stop (goal 0) -> {'OK' if not left else 'ZU HOCH'}")
        print(f"  scheduling lag p99 of availability over the whole run: {whole_p99:.3f} s (goal under 1 s) "
              f"-> {'OK' if whole_p99 < 1 else 'ZU HOCH'}; worst simulated hour {max(r['lag_p99'] for r in rows):.3f} s")
        print(f"  results stored: {sum(r['stored'] for r in rows):.0f}; store {rows[-1]['store_mb']:.1f} MB; "
              f"daemon exit code {code}")
        if reloads:
            growth = [(after - before) for before, after in reloads]
            late = [(after - before) / before * 100 for before, after in reloads[3:]]
            print(f"  reloads of the {args.quiet_targets + len(paths) + len(HOSTILE_HTTP):,}-target catalog: RSS change "
                  f"per reload (MB) {', '.join(f'{g:+.0f}' for g in growth)}")
            if late:  # the goal is the net growth per reload; one reload may borrow memory the next gives back
                mean = sum(late) / len(late)
                print(f"  after the third reload: net {mean:+.2f} % per reload (goal under 2 %) -> "
                      f"{'OK' if mean < 2 else 'ZU HOCH'}; single reloads from {min(late):+.2f} to {max(late):+.2f} %")
        sys.exit(0 if code == 0 else 1)


if __name__ == "__main__":
    main()
