"""Benchmark: the DSGVO pass of this tree against an earlier commit's, side by side in one run.

Recording every cookie attempt (an init script in every frame, the Set-Cookie lines of every
response, one more read per frame) must not slow the DSGVO pass down by more than 5 %. Both
sides scan the same 40 local pages of bench.gdpr (every other one loading a cookie-setting
script from another host), with a pool of 2, alternating base and this tree for `--rounds`
rounds, each in its own process with its own code (`git worktree` of `--base`). Printed:
pages per minute of each side (median over the rounds) and the ratio.

    python -m bench.gdpr_compare [--base 3d395bd] [--rounds 3] [--pages 40]
"""

from __future__ import annotations

import inspect
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASE = "3d395bd"  # the last commit before cookie attempts were recorded


def worker(pages: int, pool_size: int) -> None:
    """One DSGVO pass with the code on sys.path; prints its JSON figures."""
    from bench.gdpr import TRACKER, with_third_party
    from checks import gdpr
    from checks.browser import BrowserPool, BrowserSettings
    from checks.result import Target
    from tests.sites import Page, site

    settings = gdpr.GdprSettings(max_pages=pages, timeout=60, settle=1.5,
                                 markers=[m for m in gdpr.MARKERS if m != "https_redirect"])
    with site({"/t.js": Page(body=TRACKER, content_type="application/javascript")}) as tport:
        routes = {f"/leistung/{i}": Page(body=with_third_party(i, tport)) for i in range(pages)}
        with site(routes) as port:
            urls = [f"http://127.0.0.1:{port}/leistung/{i}" for i in range(pages)]
            pool = BrowserPool(BrowserSettings(), pool_size)
            try:
                t0 = time.perf_counter()
                target = Target("bench", urls[0], tuple(urls))
                if "ctx" in inspect.signature(gdpr.run).parameters:  # the pool arrives in the check context
                    try:  # where the context lives since issue 37; before it, in checks.kind
                        from checks.context import CheckContext
                    except ImportError:
                        from checks.kind import CheckContext  # type: ignore[no-redef,attr-defined]

                    result = gdpr.run(target, settings, CheckContext(browser=pool))
                else:  # commits before the kinds redesign took it as a keyword
                    result = gdpr.run(target, settings, pool=pool)
                seconds = time.perf_counter() - t0
            finally:
                pool.close()
    m = result.measurements
    print(json.dumps({"seconds": seconds, "pages": m["pages_scanned"], "cookies": m.get("nonessential_cookies"),
                      "code": gdpr.__file__}))


def main() -> None:
    if "--worker" in sys.argv:  # one side's run, with that side's code on PYTHONPATH: nothing from this tree
        pages, pool = int(sys.argv[sys.argv.index("--pages") + 1]), int(sys.argv[sys.argv.index("--pool") + 1])
        worker(pages, pool)
        return
    from bench.sides import page_pass_compare

    args, figures, _rows = page_pass_compare(ROOT / "bench" / "gdpr_compare.py", BASE, __doc__ or "")
    base, head = statistics.median(figures["base"]), statistics.median(figures["this"])
    ratio = head / base
    print(f"""
DSGVO-Durchlauf: dieser Stand gegen {args.base}, {args.pages} lokale Seiten, Pool {args.pool}, {args.rounds} Runden im Wechsel
  {args.base:<10}: {base:6.1f} Seiten/min (Runden: {', '.join(f'{x:.1f}' for x in figures['base'])})
  dieser Stand: {head:6.1f} Seiten/min (Runden: {', '.join(f'{x:.1f}' for x in figures['this'])})
  Verhältnis  : {ratio:.3f}x ({'innerhalb' if ratio >= 0.95 else 'AUSSERHALB'} von 5 %)
""")


if __name__ == "__main__":
    main()
