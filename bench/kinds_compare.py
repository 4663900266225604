"""Benchmark: the consumers the kinds redesign rewrote, this tree against the commit before it.

The redesign (and its second step, issue 37: the registry passed explicitly, the store's
hooks beside each check) routes every result through the kinds registry: storing a result (the rollup
fold asks the kind for its digest and latency) and every /metrics scrape (each kind exports
its own families). Both sides store the same synthetic results of all four kinds for
`--services` services in a fresh SQLite store and then scrape /metrics `--scrapes` times,
each side in its own process with its own code (`git worktree` of `--base`), alternating
for `--rounds` rounds. Each side scrapes as its daemon serves /metrics: through
`ResultText` (lines rendered as results commit, joined at the scrape; a base older than it
through its registry's `ResultCollector`), timed with every target's result new since the
last scrape, and again with none. Printed: results stored per second and milliseconds per scrape of each side
(median over the rounds) and the ratios (this tree / base; above 1 is faster).

    python -m bench.kinds_compare [--base e6414d2] [--rounds 3] [--services 200] [--scrapes 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASE = "e6414d2"  # the last commit before the architecture step (issue 37); 290851c: before the kinds redesign


def worker(services: int, scrapes: int, directory: str) -> None:
    """Store and scrape with the code on sys.path; prints its JSON figures."""
    from datetime import UTC, datetime, timedelta

    from prometheus_client import CollectorRegistry, generate_latest

    from checks.result import CheckResult, Reason, State
    from monitor.config import load_config
    from monitor.metrics import ResultCollector
    from monitor.store import Store

    d = Path(directory)
    lines = ["services:"]
    for i in range(services):
        lines += [f"  - id: dienst-{i:03d}", f"    name: Dienst {i}", "    category: efa", "    operator: Land",
                  "    contact: ops@example.invalid", f'    urls: ["https://dienst-{i:03d}.example.invalid/"]',
                  "    checks: {availability: {}, security: {}, accessibility: {}, gdpr: {}}"]
    (d / "catalog.yaml").write_text("\n".join(lines) + "\n")
    (d / "settings.yaml").write_text(f'catalog: [catalog.yaml]\nstore: {{url: "sqlite:///{d / "s.db"}"}}\n'
                                     "browser: {remote_url: 'http://127.0.0.1:9'}\n")
    try:  # this tree: the process builds its registry and passes it on
        from monitor.kinds import builtin
        kinds: tuple = (builtin(),)
    except ImportError:  # before issue 37: one global registry
        kinds = ()
    config = load_config(d / "settings.yaml", *kinds)
    store = Store.open(config.store_url, *kinds, tz=config.settings.tz)
    t0 = datetime.now(UTC) - timedelta(hours=1)
    results = []
    for i in range(services):
        url = f"https://dienst-{i:03d}.example.invalid/"
        sid = f"dienst-{i:03d}"
        for n in range(5):
            at = t0 + timedelta(minutes=n)
            results.append(CheckResult(sid, url, "availability", State.UP, Reason.OK, at, 0.1,
                                       {"duration_seconds": 0.1 + n / 100, "status_code": 200.0, "ssl": 1.0,
                                        "phase_connect_seconds": 0.01},
                                       {"tls": {"version": "TLSv1.3"}}))
        results.append(CheckResult(sid, url, "security", State.DEGRADED, Reason.FINDINGS, t0, 1.0,
                                   {"score": 80.0, "tls_compliant": 1.0, "tls_accepts_tlsv1_2": 1.0,
                                    "findings_warning": 2.0, "security_txt_valid": 0.0},
                                   {"observatory": {"score": 80, "grade": "B+", "algorithm_version": 4,
                                                    "tests": {"cookies": {"pass": True}}, "extra": {}},
                                    "findings": [{"id": "x", "severity": "warning", "message": "m"}]}))
        results.append(CheckResult(sid, url, "accessibility", State.DOWN, Reason.NONCOMPLIANT, t0, 5.0,
                                   {"pages_scanned": 2.0, "violations_serious": 3.0, "rules_serious": 1.0,
                                    "marker_html_lang": 1.0, "score": 90.0},
                                   {"axe_version": "4.10.2", "pages": [{"url": url, "violations": [
                                       {"rule": "image-alt", "impact": "serious", "nodes": 3, "help": "h"}]}],
                                    "markers": {"html_lang": {"state": "pass"}}}))
        results.append(CheckResult(sid, url, "gdpr", State.UP, Reason.OK, t0, 5.0,
                                   {"pages_scanned": 2.0, "requests": 10.0, "trackers": 0.0, "marker_no_trackers": 1.0},
                                   {"summary": {"hosts": []}, "markers": {"no_trackers": {"state": "pass"}},
                                    "findings": []}))
    start = time.perf_counter()
    for r in results:
        store.record(r)
    store_seconds = time.perf_counter() - start
    import monitor.metrics

    steady_ms = None
    if hasattr(monitor.metrics, "ResultText"):
        # As the daemon serves a scrape (since e6414d2's time): its newest results in memory (LatestCache), each
        # target's lines rendered when its result commits (ResultText.update), joined at the scrape.
        # Timed as the worst case, every target's result new since the last scrape (update of all,
        # then the join); and the steady case, nothing new (the join alone).
        latest = monitor.metrics.LatestCache(store)
        served = monitor.metrics.ResultText(latest, lambda: config)

        def joined() -> bytes:  # what the daemon writes: pieces since 2026-12-06, before that text()
            return "".join(served.pieces()).encode() if hasattr(served, "pieces") else served.text()

        def scrape() -> bytes:
            served.update(latest())
            return joined()
        reference = CollectorRegistry()
        reference.register(ResultCollector(store, lambda: config))
        body = scrape()
        assert body == generate_latest(reference), "ResultText differs from ResultCollector"
        size = len(body)
        start = time.perf_counter()
        for _ in range(scrapes):
            joined()
        steady_ms = (time.perf_counter() - start) / scrapes * 1000
    else:  # a base before ResultText: the registry's collector, read from the store at each scrape
        registry = CollectorRegistry()
        registry.register(ResultCollector(store, lambda: config))

        def scrape() -> bytes:
            return generate_latest(registry)
        size = len(scrape())
    start = time.perf_counter()
    for _ in range(scrapes):
        scrape()
    scrape_seconds = (time.perf_counter() - start) / scrapes
    store.close()

    print(json.dumps({"results_per_second": len(results) / store_seconds, "scrape_ms": scrape_seconds * 1000,
                      "steady_scrape_ms": steady_ms, "metrics_bytes": size, "code": monitor.metrics.__file__}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default=BASE, help="commit to compare with")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--services", type=int, default=200)
    parser.add_argument("--scrapes", type=int, default=20)
    parser.add_argument("--worker", metavar="DIR", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:  # runs with another tree on PYTHONPATH: imports nothing from this one's bench/
        worker(args.services, args.scrapes, args.worker)
        return
    from bench.sides import side_by_side  # this tree only, after the worker branch

    figures = side_by_side(args.base, args.rounds, lambda work: [
        str(ROOT / "bench" / "kinds_compare.py"), "--worker", str(work), "--services", str(args.services),
        "--scrapes", str(args.scrapes)])
    med = {side: {k: statistics.median(f[k] for f in rows) for k in rows[0] if rows[0][k] is not None
                  and not isinstance(rows[0][k], str)} for side, rows in figures.items()}
    print(f"kinds redesign, {args.services} services x 4 kinds, {args.rounds} rounds (median):")
    print(f"  results stored per second: base {med['base']['results_per_second']:.0f}, "
          f"this {med['this']['results_per_second']:.0f}, "
          f"ratio {med['this']['results_per_second'] / med['base']['results_per_second']:.2f}x")
    print(f"  /metrics scrape: base {med['base']['scrape_ms']:.1f} ms, this {med['this']['scrape_ms']:.1f} ms, "
          f"ratio {med['base']['scrape_ms'] / med['this']['scrape_ms']:.2f}x "
          f"({med['this']['metrics_bytes']:.0f} vs {med['base']['metrics_bytes']:.0f} bytes; each side as its daemon "
          "serves it, here every target's result new since the last scrape)")
    if "steady_scrape_ms" in med["this"] and "steady_scrape_ms" in med["base"]:
        print(f"  /metrics scrape with no new result: base {med['base']['steady_scrape_ms']:.1f} ms, "
              f"this {med['this']['steady_scrape_ms']:.1f} ms, "
              f"ratio {med['base']['steady_scrape_ms'] / med['this']['steady_scrape_ms']:.2f}x")


if __name__ == "__main__":
    main()
