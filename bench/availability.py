"""Availability probes: egov-monitor against prometheus-blackbox-exporter, side by side.

1. Throughput: cycles over N local URLs on an nginx on 127.0.0.1 at the same
   concurrency, for the same time on each side. Our probes run in-process (as in the daemon); blackbox is driven over its
   /probe API by wrk (C, so the driver costs little), as Prometheus would drive it.
   Printed: probes/s, CPU seconds per 1,000 probes of the prober process, and the ratio.
2. Latency error: 100 concurrent probes against a server that waits 100 ms before each
   answer; the error is the measured probe duration minus 100 ms.

Run: make bench   (or: .venv/bin/python -m bench.availability --urls 2000 --concurrency 50)
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

from bench.peers import blackbox, delay_server, need, nginx, process_cpu_seconds
from checks.availability import AvailabilitySettings, run, start
from checks.result import CheckResult, State, Target
from monitor.process import SWITCH_INTERVAL

SETTINGS = AvailabilitySettings(retries=0, timeout=5, interval=60)


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def ours(urls: list[str], concurrency: int, duration: float) -> dict:
    """Cycles over `urls` until `duration` has passed (whole cycles only), as the daemon runs
    availability checks: started without a waiting thread (`checks.availability.start`, the
    next one started from the callback of one that ended), `concurrency` at a time."""
    def cycle() -> tuple[int, int]:
        todo = iter(urls)
        lock, finished = threading.Lock(), threading.Event()
        counts = {"done": 0, "ok": 0, "running": 0}

        def launch() -> bool:
            with lock:
                url = next(todo, None)
                if url is None:
                    return False
                counts["running"] += 1
            start(Target("bench", url), SETTINGS, None, ended)
            return True

        def ended(result) -> None:
            with lock:
                counts["running"] -= 1
                counts["done"] += 1
                counts["ok"] += isinstance(result, CheckResult) and result.state is State.UP
            if not launch():
                with lock:
                    if counts["running"] == 0:
                        finished.set()

        for _ in range(concurrency):
            launch()
        finished.wait()
        return counts["done"], counts["ok"]

    cycle()  # warm up
    c0, t0 = _cpu(), time.perf_counter()
    done = ok = 0
    while True:
        n, good = cycle()
        done, ok = done + n, ok + good
        if time.perf_counter() - t0 >= duration:
            break
    wall, used = time.perf_counter() - t0, _cpu() - c0
    return {"probes": done, "ok": ok, "seconds": wall, "probes_per_second": done / wall,
            "cpu_seconds_per_1000": used / done * 1000}


def ours_waiting(urls: list[str], concurrency: int, duration: float) -> dict:
    """The same with a thread waiting for each probe (`checks.availability.run` in a pool of
    `concurrency` threads): the daemon's way before, and still the CLI's and the workers'."""
    cpu = _cpu
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(lambda u: run(Target("bench", u), SETTINGS), urls[: concurrency * 2]))  # warm up
        c0, t0 = cpu(), time.perf_counter()
        done = ok = 0
        while True:
            results = list(pool.map(lambda u: run(Target("bench", u), SETTINGS), urls))
            done += len(results)
            ok += sum(1 for r in results if r.state is State.UP)
            if time.perf_counter() - t0 >= duration:
                break
        wall, used = time.perf_counter() - t0, cpu() - c0
    return {"probes": done, "ok": ok, "seconds": wall, "probes_per_second": done / wall,
            "cpu_seconds_per_1000": used / done * 1000}


WRK_SCRIPT = """
local targets = {}
local n = 0
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("offset", counter)
end
function init(args)
  for line in io.lines("%(targets)s") do targets[#targets + 1] = line end
  n = 0
end
function request()
  n = n + 1
  local t = targets[((n + offset * 7919) %% #targets) + 1]
  return wrk.format("GET", "/probe?module=http_2xx&target=" .. t)
end
local failed = 0
function response(status, headers, body)
  if not string.find(body, "probe_success 1", 1, true) then failed = failed + 1 end
end
function done(summary, latency, requests)
  io.write(string.format("failed-probes %%d\\n", failed))
end
"""


def theirs(urls: list[str], concurrency: int, duration: float, threads: int = 2) -> dict:
    wrk = need("wrk")
    with blackbox() as (port, pid), tempfile.TemporaryDirectory() as tmp:
        targets = Path(tmp) / "targets.txt"
        targets.write_text("\n".join(urllib.parse.quote(u, safe="") for u in urls) + "\n")
        script = Path(tmp) / "bench.lua"
        script.write_text(WRK_SCRIPT % {"targets": targets})
        # warm up
        urllib.request.urlopen(f"http://127.0.0.1:{port}/probe?module=http_2xx&target={urllib.parse.quote(urls[0])}").read()
        c0, t0 = process_cpu_seconds(pid), time.perf_counter()
        out = subprocess.run([wrk, f"-t{threads}", f"-c{concurrency}", f"-d{duration:g}s", "--timeout", "10s", "-s", str(script),
                              f"http://127.0.0.1:{port}"], capture_output=True, text=True, check=True).stdout
        wall, used = time.perf_counter() - t0, process_cpu_seconds(pid) - c0
    done = int(out.split(" requests in ")[0].split()[-1])
    # wrk's own figure excludes its start-up; use it for probes/s
    secs_text = out.split(" requests in ")[1].split(",")[0]
    secs = float(secs_text[:-2]) / 1000 if secs_text.endswith("ms") else float(secs_text[:-1]) * (60 if secs_text.endswith("m") else 1)
    failed = int(out.split("failed-probes ")[1].split()[0]) if "failed-probes " in out else -1
    return {"probes": done, "failed": failed, "seconds": secs, "probes_per_second": done / secs,
            "cpu_seconds_per_1000": used / done * 1000, "wall_including_wrk_start": wall}


def latency_error(delay: float, concurrency: int, rounds: int) -> dict:
    with delay_server(delay) as port:
        url = f"http://127.0.0.1:{port}/"
        with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
            our = []
            for _ in range(rounds):
                results = list(pool.map(lambda _i: run(Target("bench", url), SETTINGS), range(concurrency)))
                our += [r.measurements["duration_seconds"] - delay for r in results if r.state is State.UP]
            with blackbox() as (bport, _pid):
                def probe(_i):
                    q = f"http://127.0.0.1:{bport}/probe?module=http_2xx&target={urllib.parse.quote(url)}"
                    text = urllib.request.urlopen(q, timeout=10).read().decode()
                    values = {line.split()[0]: float(line.split()[1]) for line in text.splitlines()
                              if line and not line.startswith("#") and "{" not in line}
                    return values["probe_duration_seconds"] if values.get("probe_success") == 1 else None

                their = []
                for _ in range(rounds):
                    their += [d - delay for d in pool.map(probe, range(concurrency)) if d is not None]

    def summary(errors: list[float]) -> dict:
        errors = sorted(errors)
        return {"n": len(errors), "mean_ms": statistics.fmean(errors) * 1000,
                "median_ms": statistics.median(errors) * 1000, "p95_ms": errors[int(len(errors) * 0.95) - 1] * 1000,
                "max_ms": errors[-1] * 1000}

    return {"egov-monitor": summary(our), "blackbox": summary(their)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--urls", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--duration", type=float, default=6.0, help="seconds per side and round (whole cycles over the URLs)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, alternating the sides; medians are printed")
    parser.add_argument("--delay-concurrency", type=int, default=100)
    sys.setswitchinterval(SWITCH_INTERVAL)  # as in the daemon's process (monitor.process)
    parser.add_argument("--delay-rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()

    # Alternating rounds, medians: a machine shared with nginx (and, here, whatever else runs)
    # gives either side a slow few seconds now and then; one round each decided the ratio by luck.
    rounds: list[tuple[dict, dict]] = []
    with nginx() as port:
        urls = [f"http://127.0.0.1:{port}/dienst/{i}" for i in range(args.urls)]
        for _ in range(args.rounds):
            rounds.append((ours(urls, args.concurrency, args.duration), theirs(urls, args.concurrency, args.duration)))
        waiting = ours_waiting(urls, args.concurrency, args.duration)
    lat = latency_error(0.1, args.delay_concurrency, args.delay_rounds)

    def median(side: int, key: str) -> float:
        return statistics.median(r[side][key] for r in rounds)

    a = {"probes_per_second": median(0, "probes_per_second"), "cpu_seconds_per_1000": median(0, "cpu_seconds_per_1000"),
         "ok": sum(r[0]["ok"] for r in rounds), "probes": sum(r[0]["probes"] for r in rounds)}
    b = {"probes_per_second": median(1, "probes_per_second"), "cpu_seconds_per_1000": median(1, "cpu_seconds_per_1000"),
         "probes": sum(r[1]["probes"] for r in rounds)}
    figures = {"throughput": {"egov-monitor": a, "blackbox": b, "rounds": rounds, "egov-monitor-waiting": waiting,
                              "ratio_probes_per_second": a["probes_per_second"] / b["probes_per_second"],
                              "ratio_cpu_per_probe": a["cpu_seconds_per_1000"] / b["cpu_seconds_per_1000"]},
               "latency_error_100ms": lat, "urls": args.urls, "concurrency": args.concurrency}
    each = ", ".join(f"{o['probes_per_second'] / t['probes_per_second']:.2f}x/{o['cpu_seconds_per_1000'] / t['cpu_seconds_per_1000']:.2f}x"
                     for o, t in rounds)
    print(textwrap.dedent(f"""
        Verfügbarkeit: {args.urls} URLs auf lokalem nginx, Nebenläufigkeit {args.concurrency}, {args.rounds} Runden abwechselnd je ~{args.duration:g} s (Median)
          egov-monitor : {a['probes_per_second']:8.0f} Proben/s  {a['cpu_seconds_per_1000']:.3f} CPU-s/1000 Proben  ({a['ok']} von {a['probes']} ok)
          blackbox     : {b['probes_per_second']:8.0f} Proben/s  {b['cpu_seconds_per_1000']:.3f} CPU-s/1000 Proben
          Verhältnis   : {figures['throughput']['ratio_probes_per_second']:.2f}x Durchsatz, {figures['throughput']['ratio_cpu_per_probe']:.2f}x CPU je Probe (egov-monitor / blackbox)
          je Runde     : {each} (Durchsatz/CPU)
          zum Vergleich: {waiting['probes_per_second']:8.0f} Proben/s  {waiting['cpu_seconds_per_1000']:.3f} CPU-s/1000 Proben  egov-monitor mit einem wartenden Thread je Probe (wie vor 2026-11-30)
        Messfehler bei 100 ms Serververzögerung, {args.delay_concurrency} gleichzeitige Proben x {args.delay_rounds}
          egov-monitor : Mittel {lat['egov-monitor']['mean_ms']:.2f} ms, Median {lat['egov-monitor']['median_ms']:.2f} ms, p95 {lat['egov-monitor']['p95_ms']:.2f} ms
          blackbox     : Mittel {lat['blackbox']['mean_ms']:.2f} ms, Median {lat['blackbox']['median_ms']:.2f} ms, p95 {lat['blackbox']['p95_ms']:.2f} ms
    """))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
