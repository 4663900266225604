"""Benchmark: axe-core scans of local pages, egov-monitor's browser pool against
@axe-core/cli (npm, with the Debian chromedriver and chromium), side by side.

Both scan the same generated pages (a portal template with header, navigation, forms,
tables, images and a varying set of barriers; every fifth page embeds a frame) with the
WCAG 2.1 AA tags and the same axe-core release (4.10.2; the npm peer is pinned to it).
Printed: pages per minute, peak memory of each side's whole process tree (Python or
node, chromedriver and every Chromium process), the ratio, and whether the violation
sets (rule and element count, per page) agree. Ours twice: from a new pool (its browsers
start within the time, as the peer's does: the ratio the goal is judged by), and on a warm
pool whose sessions have each scanned a page, as the daemon's pool is between checks.

Our pooled scans run Chromium's headless shell (`browser.headless_shell`), the peer the full
Chromium, as its documentation and this machine's guide start it; `--peer-chromium
/usr/bin/chromium-headless-shell` gives the peer the headless shell too (docs/benchmarks.md).

    python -m bench.accessibility [--pages 40] [--pool 2] [--peer-chromium PATH]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from bench.peers import browser_tmp
from checks import accessibility as a11y
from checks.browser import BrowserPool, BrowserSettings
from checks.context import CheckContext
from checks.result import Target
from tests.sites import Page, site

PEER = Path(__file__).resolve().parent / "axe-cli"
TAGS = list(a11y.WCAG21_AA)


def page(i: int) -> bytes:
    """A portal page with barriers that vary with i, so the pages are not all the same."""
    rows = "".join(f"<tr><td>Antrag {i}-{r}</td><td>{r * 7 % 31} Tage</td><td><a href='/p{r}'>Details</a></td></tr>"
                   for r in range(30))
    barriers = []
    if i % 2:
        barriers.append("<img src='/x.svg'>")  # image-alt
    if i % 3 == 0:
        barriers.append("<input type='text' name='q'>")  # label
    if i % 4 == 0:
        barriers.append("<a href='/leer'></a>")  # link-name
    if i % 5 == 0:
        barriers.append("<iframe src='/frame' title='Karte'></iframe>")
    if i % 7 == 0:
        barriers.append("<p style='color:#aaa;background:#fff'>Hinweis in zu schwachem Kontrast</p>")
    nav = "".join(f"<li><a href='/bereich/{n}'>Bereich {n}</a></li>" for n in range(25))
    text = " ".join(f"<p>Abschnitt {n} der Seite {i}: Informationen zu Leistungen der Verwaltung, "
                    f"Fristen, Gebühren und Unterlagen.</p>" for n in range(20))
    return f"""<!doctype html><html lang="de"><head><meta charset="utf-8"><title>Leistung {i}</title>
<style>body{{font-family:sans-serif}} nav li{{display:inline}}</style></head><body>
<header><a href="/">Serviceportal</a><nav aria-label="Hauptmenü"><ul>{nav}</ul></nav></header>
<main><h1>Leistung {i}</h1>{text}
<form action="/senden"><label for="n{i}">Name</label><input id="n{i}" name="n"><button>Senden</button></form>
<table><caption>Anträge</caption><tr><th>Antrag</th><th>Dauer</th><th>Link</th></tr>{rows}</table>
{''.join(barriers)}</main><footer><a href="/barrierefreiheit">Erklärung zur Barrierefreiheit</a></footer>
<script>document.querySelectorAll('li').forEach(function (li, n) {{ li.dataset.n = n; }});</script>
</body></html>""".encode()


FRAME = (b"<!doctype html><html lang=de><title>Karte</title><main><img src='/x.svg'>"
         b"<iframe src='/inner' title='Innen'></iframe></main></html>")
INNER = b"<!doctype html><html lang=de><title>Innen</title><main><input type=text></main></html>"
SVG = Page(body=b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>', content_type="image/svg+xml")


# --------------------------------------------------------------------------- memory of a process tree


def tree_pss(root: int, leave_out: int | None = None) -> int:
    """Proportional set size in bytes of `root` and all its descendants, from /proc, without
    the process `leave_out` (the sampler, a child of ours but part of neither side).

    PSS, not RSS: Chromium's processes share most of their pages, and summing RSS would
    count those once per process."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    children.setdefault(int(f.read().rsplit(")", 1)[1].split()[1]), []).append(int(entry))
            except OSError:
                continue
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        if pid == leave_out:
            continue
        stack.extend(children.get(pid, ()))
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1]) * 1024
                        break
        except OSError:
            continue
    return total


@contextlib.contextmanager
def peak_memory(root: int) -> Iterator[dict]:
    """Samples the tree's PSS every 250 ms from a separate process, so sampling never takes
    the measured Python process's time; the peak is in the yielded dict afterwards."""
    out = {"peak": 0}
    sampler = subprocess.Popen([sys.executable, "-m", "bench.accessibility", "--sample", str(root)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                               cwd=Path(__file__).resolve().parent.parent)
    try:
        yield out
    finally:
        stdout, _ = sampler.communicate("stop\n", timeout=30)
        out["peak"] = int(stdout.strip() or 0)


def _sample(root: int) -> None:
    peak, stop = 0, threading.Event()
    threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()), daemon=True).start()
    while not stop.is_set():
        peak = max(peak, tree_pss(root, leave_out=os.getpid()))
        stop.wait(0.25)
    print(peak)


# --------------------------------------------------------------------------- the two sides


def ours(urls: list[str], pool_size: int, warm: bool = False) -> dict:
    """The pass over `urls`, timed from a new pool (its browsers start within the time) or, with
    `warm`, on a pool whose sessions have each scanned a page, as the daemon's pool is between
    checks (its sessions live on until their 50th page)."""
    pool = BrowserPool(BrowserSettings(), pool_size)
    settings = a11y.AccessibilitySettings(tags=TAGS, markers=[], max_pages=len(urls), timeout=60)
    try:
        if warm:  # every session started and past its first page, untimed
            first = a11y.AccessibilitySettings(tags=TAGS, markers=[], max_pages=pool_size, timeout=60)
            a11y.run(Target("bench", urls[0], tuple(urls[-pool_size:])), first, CheckContext(browser=pool))
            assert pool.live_sessions() == pool_size, pool.live_sessions()
        with peak_memory(os.getpid()) as mem:
            t0 = time.perf_counter()
            result = a11y.run(Target("bench", urls[0], tuple(urls)), settings, CheckContext(browser=pool))
            seconds = time.perf_counter() - t0
    finally:
        pool.close()
    found = {p["url"]: sorted((v["rule"], v["nodes"]) for v in p.get("violations", ()))
             for p in result.to_dict()["evidence"]["pages"]}
    failed = [p["url"] for p in result.evidence["pages"] if p.get("error")]
    return {"seconds": seconds, "peak_bytes": mem["peak"], "violations": found, "failed": failed}


def theirs(urls: list[str], workdir: Path, chromium: str = "/usr/bin/chromium") -> dict:
    axe = PEER / "node_modules" / ".bin" / "axe"
    if not axe.exists():
        raise SystemExit("@axe-core/cli fehlt: `scripts/setup.sh test` installiert es (bench/axe-cli)")
    out_file = workdir / "axe-cli.json"
    flags = ("no-sandbox,disable-gpu,disable-dev-shm-usage,disable-background-networking,disable-component-update,"
             "disable-sync,no-first-run,disable-features=HttpsUpgrades")
    cmd = [str(axe), *urls, "--tags", ",".join(TAGS), "--chromedriver-path", "/usr/bin/chromedriver",
           "--chrome-path", chromium, "--chrome-options", flags, "--dir", str(workdir),
           "--save", out_file.name, "--no-reporter"]
    with browser_tmp() as env:
        env["CHROMEDRIVER_SKIP_DOWNLOAD"] = "true"
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
        with peak_memory(proc.pid) as mem:
            stdout, stderr = proc.communicate(timeout=600)
        seconds = time.perf_counter() - t0
    if not out_file.exists():
        raise SystemExit(f"@axe-core/cli lieferte kein Ergebnis:\n{stdout}\n{stderr}")
    data = json.loads(out_file.read_text())
    found = {r["url"]: sorted((v["id"], len(v["nodes"])) for v in r["violations"]) for r in data}
    return {"seconds": seconds, "peak_bytes": mem["peak"], "violations": found, "failed": [u for u in urls if u not in found]}


def main() -> None:
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=40)
    parser.add_argument("--pool", type=int, default=2, help="browser sessions of egov-monitor's pool")
    parser.add_argument("--peer-chromium", default="/usr/bin/chromium",
                        help="the peer's browser (--chrome-path); its documented one is the full Chromium")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--sample", type=int, help=argparse.SUPPRESS)  # internal: the memory sampler
    args = parser.parse_args()
    if args.sample:
        _sample(args.sample)
        return
    routes = {f"/leistung/{i}": Page(body=page(i)) for i in range(args.pages)}
    routes.update({"/frame": Page(body=FRAME), "/inner": Page(body=INNER), "/x.svg": SVG})
    with site(routes) as port, tempfile.TemporaryDirectory() as tmp:
        urls = [f"http://127.0.0.1:{port}/leistung/{i}" for i in range(args.pages)]
        b = theirs(urls, Path(tmp), args.peer_chromium)
        a = ours(urls, args.pool)
        w = ours(urls, args.pool, warm=True)
    agree = (a["violations"] == b["violations"] == w["violations"] and not a["failed"] and not b["failed"]
             and not w["failed"])
    per_min = {k: args.pages / v["seconds"] * 60 for k, v in (("ours", a), ("theirs", b), ("warm", w))}
    ratio = per_min["ours"] / per_min["theirs"]
    print(f"""
Barrierefreiheit: {args.pages} lokale Seiten, WCAG 2.1 AA (axe-core {a11y.axe_version()}), derselbe Lauf
  egov-monitor (Pool {args.pool}) : {per_min['ours']:6.1f} Seiten/min  ({a['seconds']:.1f} s, Spitze {a['peak_bytes'] / 2**20:.0f} MiB)
  @axe-core/cli         : {per_min['theirs']:6.1f} Seiten/min  ({b['seconds']:.1f} s, Spitze {b['peak_bytes'] / 2**20:.0f} MiB, {args.peer_chromium})
  Verhältnis            : {ratio:.2f}x (egov-monitor / @axe-core/cli)
  egov-monitor, Pool warm wie im Daemon (Sitzungen schon gestartet, je eine Seite geprüft):
                          {per_min['warm']:6.1f} Seiten/min  ({w['seconds']:.1f} s, Spitze {w['peak_bytes'] / 2**20:.0f} MiB), {per_min['warm'] / per_min['theirs']:.2f}x
  Verstöße gleich       : {'ja' if agree else 'NEIN'} ({sum(len(v) for v in a['violations'].values())} Regelverstöße auf {len(a['violations'])} Seiten)
""")
    if not agree:
        for url in urls:
            if not a["violations"].get(url) == b["violations"].get(url) == w["violations"].get(url):
                print(f"  {url}: egov-monitor {a['violations'].get(url)} (warm {w['violations'].get(url)}) / "
                      f"@axe-core/cli {b['violations'].get(url)}")
    if args.json:
        args.json.write_text(json.dumps({"ours": a, "theirs": b, "warm": w, "ratio": ratio,
                                         "warm_ratio": per_min["warm"] / per_min["theirs"], "agree": agree}, indent=2))
    if not agree:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
