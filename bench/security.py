"""Benchmark: analyse-and-grade of in-memory responses, egov-monitor against the HTTP
Observatory's own code (npm @mdn/mdn-http-observatory, run by node), side by side.

Both sides get the same 10,000 distinct generated retrievals (every one has its own
header values and body, so no cache can help), build their objects from plain data,
run all ten scored tests and grade. One process, one core each; the best of the rounds.

    python -m bench.security [--cases 10000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path

from checks.security import headers as sh
from tests.observatory_cases import cases

REFERENCE = Path(__file__).resolve().parent / "observatory"


def distinct_cases(n: int) -> list[dict]:
    out = cases(n, seed=7)
    for i, c in enumerate(out):
        for resp in (c["auto"], c["https"], c["http"]):
            if resp is not None:
                resp["headers"] = [*resp["headers"], ["X-Request-Id", f"req-{i}"]]
                resp["body"] = f"<!-- {i} -->" + resp["body"]
    return out


def _clear_caches() -> None:
    from checks.security.headers import page, transport

    for fn in (page.parse_page, transport._parse_hsts, sh.registrable_domain):
        fn.cache_clear()


def ours(data: list[dict], rounds: int) -> dict:
    best = None
    for _ in range(rounds):
        _clear_caches()
        t0, c0 = time.perf_counter(), time.process_time()
        for d in data:
            sh.grade(sh.retrieval_from_dict(d))
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        if best is None or wall < best["seconds"]:
            best = {"seconds": wall, "cpu_seconds": cpu}
    best["per_second"] = len(data) / best["seconds"]
    return best


def theirs(data: list[dict], rounds: int) -> dict:
    payload = json.dumps(data)
    best = None
    for _ in range(rounds):
        out = subprocess.run(["node", str(REFERENCE / "reference.mjs"), "bench", "1"], input=payload,
                             capture_output=True, text=True, check=True)
        r = json.loads(out.stdout)
        if best is None or r["seconds"] < best["seconds"]:
            best = {"seconds": r["seconds"], "cpu_seconds": r["cpu_seconds"]}
    best["per_second"] = len(data) / best["seconds"]
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    data = distinct_cases(args.cases)
    a, b = ours(data, args.rounds), theirs(data, args.rounds)
    ratio = a["per_second"] / b["per_second"]
    print(f"""
Sicherheits-Header: Analyse und Bewertung von {args.cases} verschiedenen Antworten im Speicher, ein Kern, bestes von {args.rounds}
  egov-monitor        : {a['per_second']:8.0f} Analysen/s  ({a['seconds']:.2f} s, {a['cpu_seconds']:.2f} CPU-s)
  HTTP Observatory    : {b['per_second']:8.0f} Analysen/s  ({b['seconds']:.2f} s, {b['cpu_seconds']:.2f} CPU-s)
  Verhältnis          : {ratio:.2f}x (egov-monitor / Observatory)
""")
    if args.json:
        args.json.write_text(json.dumps({"egov-monitor": a, "observatory": b, "ratio": ratio, "cases": args.cases}, indent=2))


if __name__ == "__main__":
    main()
