"""Benchmark: the accessibility pass with the statement audit of this tree against an earlier
commit's pass (before the audit), side by side in one run.

Finding the statement by what it says (up to three candidates read), auditing it and mapping
rules to WCAG criteria must keep the accessibility pass within 5 % of its pages per minute.
Both sides scan the same 40 local pages of bench.accessibility (every one links the model
statement at /barrierefreiheit) with every BITV marker on, a pool of 2, alternating base and
this tree for `--rounds` rounds, each in its own process with its own code (`git worktree`
of `--base`). Printed: pages per minute of each side (median over the rounds) and the ratio.

    python -m bench.a11y_compare [--base a044c2b] [--rounds 3] [--pages 40]
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASE = "a044c2b"  # the last commit before the statement audit and the WCAG criteria
STATEMENT = """<!doctype html><html lang="de"><head><meta charset="utf-8"><title>Erklärung zur Barrierefreiheit</title></head>
<body><main><h1>Erklärung zur Barrierefreiheit</h1>
<p>Diese Website ist mit den Anforderungen der BITV 2.0 teilweise vereinbar.</p>
<h2>Nicht barrierefreie Inhalte</h2><ul><li>Einige PDF-Dokumente</li><li>Videos ohne Untertitel</li></ul>
<h2>Erstellung dieser Erklärung</h2><p>Diese Erklärung wurde am 01.10.2026 erstellt (Selbstbewertung).</p>
<h2>Barriere melden</h2><p><a href="mailto:barrierefreiheit@example.invalid">barrierefreiheit@example.invalid</a></p>
<h2>Schlichtungsverfahren</h2><p>Schlichtungsstelle nach § 16 BGG.</p></main></body></html>""".encode()


def worker(pages: int, pool_size: int) -> None:
    """One accessibility pass with the code on sys.path; prints its JSON figures."""
    from bench.accessibility import TAGS, page
    from checks import accessibility as a11y
    from checks.browser import BrowserPool, BrowserSettings
    try:  # where the context lives since issue 37; before it, in checks.kind
        from checks.context import CheckContext
    except ImportError:
        from checks.kind import CheckContext  # type: ignore[no-redef,attr-defined]
    from checks.result import Target
    from tests.sites import Page, site

    routes = {f"/p{i}": Page(body=page(i)) for i in range(pages)}
    routes["/barrierefreiheit"] = Page(body=STATEMENT)
    for path in ("/x.svg", "/frame"):
        routes[path] = Page(body=b"<!doctype html><html lang=de><title>x</title><p>x</p></html>")
    with site(routes) as port:
        urls = [f"http://127.0.0.1:{port}/p{i}" for i in range(pages)]
        pool = BrowserPool(BrowserSettings(), pool_size)
        settings = a11y.AccessibilitySettings(tags=TAGS, max_pages=pages, timeout=60)
        try:
            t0 = time.perf_counter()
            result = a11y.run(Target("bench", urls[0], tuple(urls)), settings, CheckContext(browser=pool))
            seconds = time.perf_counter() - t0
        finally:
            pool.close()
    markers = {k: m["state"] for k, m in result.to_dict()["evidence"]["markers"].items()}
    print(json.dumps({"seconds": seconds, "pages": result.measurements["pages_scanned"], "markers": markers,
                      "code": a11y.__file__}))


def main() -> None:
    if "--worker" in sys.argv:  # one side's run, with that side's code on PYTHONPATH: nothing from this tree
        pages, pool = int(sys.argv[sys.argv.index("--pages") + 1]), int(sys.argv[sys.argv.index("--pool") + 1])
        worker(pages, pool)
        return
    from bench.sides import page_pass_compare

    args, figures, rows = page_pass_compare(ROOT / "bench" / "a11y_compare.py", BASE, __doc__ or "")
    assert rows[-1]["markers"]["statement_complete"] == "pass", rows[-1]["markers"]
    base, head = statistics.median(figures["base"]), statistics.median(figures["this"])
    print(f"""
Barrierefreiheit mit Prüfung der Erklärung: dieser Stand gegen {args.base}, {args.pages} lokale Seiten, Pool {args.pool},
{args.rounds} Runden im Wechsel, alle BITV-Merkmale
  vorher ({args.base})   {base:6.1f} Seiten/min   ({", ".join(f"{x:.1f}" for x in figures["base"])})
  dieser Stand           {head:6.1f} Seiten/min   ({", ".join(f"{x:.1f}" for x in figures["this"])})
  Verhältnis: {head / base:.3f}x (Ziel: höchstens 5 % langsamer, also mindestens 0,95x)""")


if __name__ == "__main__":
    main()
