"""Benchmark: the page-experience kind against Lighthouse (npm `lighthouse`, the CLI as users run
it), side by side on the same local pages, the same Chromium (Debian's) and the same lab
conditions: Lighthouse's desktop preset with DevTools throttling (`--preset=desktop
--throttling-method=devtools`; our `lab: desktop`).

`--pages` local pages with known behaviour, each a mix of: a large image the server holds back
(0 to 3 s), a layout shift (none, small, large), a busy script after the first paint (0 to
800 ms), and plain text. Each page is measured `--runs` times by both sides; each figure is the
median of its side's runs. Printed per page: LCP, CLS and TBT of both and whether ours lies
within the tolerance of Lighthouse's median (TOLERANCE below, documented in docs/checks.md),
then pages per minute of both (one page = its `--runs` loads) and the ratio. Goal: every page
within tolerance, and at least 3x Lighthouse's rate.

    python -m bench.experience [--pages 20] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.peers import browser_tmp

ROOT = Path(__file__).resolve().parents[1]
PEER = ROOT / "bench" / "lighthouse"
# |ours - Lighthouse's median| at most: absolute + relative part of Lighthouse's value
TOLERANCE = {"lcp": (0.15, 0.10), "cls": (0.01, 0.05), "tbt": (0.06, 0.10)}
AUDITS = {"lcp": "largest-contentful-paint", "cls": "cumulative-layout-shift", "tbt": "total-blocking-time",
          "fcp": "first-contentful-paint"}


def pages(n: int) -> dict:
    """`n` pages mixing a late image, a layout shift and a busy script (deterministic)."""
    from tests.experience_site import IMAGE, html
    from tests.sites import Page, delayed

    routes: dict = {}
    for i in range(n):
        delay = (0.0, 0.5, 1.2, 2.5, 3.0)[i % 5]
        shift = (0, 120, 300)[i % 3]
        busy = (0, 150, 400, 800)[i % 4]
        parts = [f"<main><h1>Dienstseite {i}</h1>"]
        parts += [f"<p>Absatz {k}: Informationen zu Leistungen, Terminen und Unterlagen.</p>" for k in range(i % 4 + 1)]
        if shift:
            parts.append(f'<div id="platz{i}"></div><div id="kasten{i}" style="height:300px;background:#246">'
                         "Hinweis</div>")
            parts.append(f"<script>setTimeout(function () {{ document.getElementById('platz{i}').style.height = "
                         f"'{shift}px'; }}, 250);</script>")
        if i % 2 == 0:
            parts.append(f'<img src="/bild{i}.png" width="400" height="300" alt="Bild {i}">')
            routes[f"/bild{i}.png"] = (Page(stream=delayed(delay, IMAGE), content_type="image/png") if delay
                                       else Page(body=IMAGE, content_type="image/png"))
        if busy:
            parts.append(f"<script>setTimeout(function () {{ var t = performance.now(); "
                         f"while (performance.now() - t < {busy}) {{}} }}, 150);</script>")
        parts.append("</main>")
        routes[f"/seite{i}"] = Page(body=html("".join(parts), f"Seite {i}"))
    return routes


def lighthouse(url: str, out: Path) -> dict[str, float | None]:
    binary = PEER / "node_modules" / ".bin" / "lighthouse"
    if not binary.exists():
        raise SystemExit("lighthouse fehlt: `scripts/setup.sh test` installiert es (bench/lighthouse)")
    flags = "--headless=new --disable-gpu --disable-background-networking --disable-component-update --no-first-run"
    if os.geteuid() == 0:
        flags += " --no-sandbox"  # Chromium refuses its sandbox as root, as our side's pool does
    cmd = [str(binary), url, "--preset=desktop", "--throttling-method=devtools", "--quiet", "--output=json",
           f"--output-path={out}", f"--chrome-flags={flags}",
           "--only-audits=" + ",".join(AUDITS.values())]
    with browser_tmp() as env:
        env["CHROME_PATH"] = "/usr/bin/chromium"
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180, check=False)
    if done.returncode != 0 or not out.exists():
        raise SystemExit(f"lighthouse scheiterte ({done.returncode}): {done.stderr[-1500:]}")
    report = json.loads(out.read_text())
    if report.get("runtimeError"):
        raise SystemExit(f"lighthouse: {report['runtimeError']}")
    audits = report["audits"]
    got = {k: audits[a].get("numericValue") for k, a in AUDITS.items()}
    return {k: (None if v is None else (float(v) if k == "cls" else float(v) / 1000)) for k, v in got.items()}


def within(metric: str, ours: float | None, peer: float | None) -> bool:
    if ours is None or peer is None:
        return ours is None and peer is None
    absolute, relative = TOLERANCE[metric]
    return abs(ours - peer) <= absolute + relative * abs(peer)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from checks.browser import BrowserPool, BrowserSettings
    from checks.experience.measure import measure_page
    from checks.experience.settings import ExperienceSettings
    from tests.sites import site

    routes = pages(args.pages)
    with site(routes) as port, tempfile.TemporaryDirectory() as tmp:
        urls = [f"http://127.0.0.1:{port}/seite{i}" for i in range(args.pages)]
        pool = BrowserPool(BrowserSettings(), 1)
        settings = ExperienceSettings(runs=args.runs, lab="desktop")
        try:
            measure_page(pool, urls[0], settings.model_copy(update={"runs": 1}))  # the browser started, as LH's is
            t0 = time.monotonic()
            ours = [measure_page(pool, u, settings) for u in urls]
            ours_s = time.monotonic() - t0
        finally:
            pool.close()
        t0 = time.monotonic()
        peer: list[dict[str, float | None]] = []
        for i, u in enumerate(urls):
            runs = [lighthouse(u, Path(tmp) / f"lh{i}-{r}.json") for r in range(args.runs)]
            peer.append({m: (statistics.median(v) if (v := [r[m] for r in runs if r[m] is not None]) else None)
                         for m in AUDITS})
        peer_s = time.monotonic() - t0

    ok = 0
    print(f"{'Seite':<10} {'LCP ours':>9} {'LCP LH':>8} {'CLS ours':>9} {'CLS LH':>8} {'TBT ours':>9} {'TBT LH':>8}  ok")
    for i, (o, p) in enumerate(zip(ours, peer, strict=True)):
        if "error" in o:
            print(f"seite{i:<5} Fehler: {o['error']}")
            continue
        good = all(within(m, o["values"].get(m), p.get(m)) for m in TOLERANCE)
        ok += good
        fmt = lambda v: "–" if v is None else f"{v:.3f}"  # noqa: E731
        print(f"seite{i:<5} {fmt(o['values']['lcp']):>9} {fmt(p['lcp']):>8} {fmt(o['values']['cls']):>9} "
              f"{fmt(p['cls']):>8} {fmt(o['values']['tbt']):>9} {fmt(p['tbt']):>8}  {'ja' if good else 'NEIN'}")
    ours_rate, peer_rate = args.pages / ours_s * 60, args.pages / peer_s * 60
    print(f"""
innerhalb der Toleranz (LCP 0,15 s + 10 %, CLS 0,01 + 5 %, TBT 60 ms + 10 % von Lighthouses Median): {ok} von {args.pages}
Seiten je Minute ({args.runs} Messungen je Seite, Profil desktop): egov-monitor {ours_rate:.1f}, Lighthouse {peer_rate:.1f}
Verhältnis: {ours_rate / peer_rate:.2f}x (Ziel: mindestens 3x)""")


if __name__ == "__main__":
    main()
