"""Benchmark: the DSGVO pass against the accessibility pass on the same 40 local pages,
and one browser visit serving both.

The DSGVO check needs a fresh browser per page (an empty profile: the pre-consent state)
and waits for the network to settle; the accessibility check reuses pooled browsers. The
third run does both on one visit: the fresh browser records the page, then axe-core runs
in it. Printed: pages per minute for each, and what the shared visit saves against
running the two passes one after the other.

    python -m bench.gdpr [--pages 40] [--pool 2] [--settle 1.5]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import time

from bench.accessibility import FRAME, INNER, SVG, TAGS, page
from checks import accessibility as a11y
from checks import gdpr
from checks.browser import BrowserPool, BrowserSettings
from checks.context import CheckContext
from checks.result import Target
from tests.sites import Page, site

TRACKER = b"document.cookie = '_ga=GA1.2.3.4; max-age=63072000; path=/'; localStorage.setItem('_ga_ls', '1');"


def with_third_party(i: int, tracker_port: int) -> bytes:
    """The accessibility benchmark's page; every other one also loads a script from another host."""
    body = page(i)
    if i % 2 == 0:
        body = body.replace(b"</body>", f"<script src='http://localhost:{tracker_port}/t.js'></script></body>".encode())
    return body


def timed(fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=40)
    parser.add_argument("--pool", type=int, default=2)
    parser.add_argument("--settle", type=float, default=1.5, help="quiet time after load (the check's default)")
    args = parser.parse_args()
    a11y_settings = a11y.AccessibilitySettings(tags=TAGS, markers=[], max_pages=args.pages, timeout=60)
    gdpr_settings = gdpr.GdprSettings(max_pages=args.pages, timeout=60, settle=args.settle,
                                      markers=[m for m in gdpr.MARKERS if m != "https_redirect"])
    with site({"/t.js": Page(body=TRACKER, content_type="application/javascript")}) as tport:
        routes = {f"/leistung/{i}": Page(body=with_third_party(i, tport)) for i in range(args.pages)}
        routes.update({"/frame": Page(body=FRAME), "/inner": Page(body=INNER), "/x.svg": SVG})
        with site(routes) as port:
            urls = [f"http://127.0.0.1:{port}/leistung/{i}" for i in range(args.pages)]
            target = Target("bench", urls[0], tuple(urls))
            pool = BrowserPool(BrowserSettings(), args.pool)
            try:
                t_a11y, r_a11y = timed(lambda: a11y.run(target, a11y_settings, CheckContext(browser=pool)))
                t_gdpr, r_gdpr = timed(lambda: gdpr.run(target, gdpr_settings, CheckContext(browser=pool)))

                def both(url: str) -> gdpr.PageCapture:
                    axe = lambda session: a11y._AxeRun(session, a11y_settings.run_options()).run()  # noqa: E731
                    return gdpr.capture_page(pool, url, gdpr_settings, wait=600, also=axe)

                def combined() -> list[gdpr.PageCapture]:
                    with concurrent.futures.ThreadPoolExecutor(args.pool) as ex:
                        return list(ex.map(both, urls))
                t_both, r_both = timed(combined)
            finally:
                pool.close()
    assert r_a11y.measurements["pages_scanned"] == args.pages, r_a11y.evidence.get("detail")
    assert r_gdpr.measurements["pages_scanned"] == args.pages, r_gdpr.evidence.get("detail")
    assert r_gdpr.measurements["third_party_hosts"] == 1 and r_gdpr.measurements["nonessential_cookies"] == 1
    rules_a11y = {(p["url"], v["rule"], v["nodes"]) for p in r_a11y.evidence["pages"] for v in p["violations"]}
    rules_both = {(c.url, v["id"], int(v.get("nodes") or 0)) for c in r_both if c.also for v in c.also["violations"]}
    per_min = {k: args.pages / t * 60 for k, t in (("a11y", t_a11y), ("gdpr", t_gdpr), ("both", t_both))}
    saved = 1 - t_both / (t_a11y + t_gdpr)
    print(f"""
DSGVO neben Barrierefreiheit: {args.pages} lokale Seiten, Pool {args.pool}, derselbe Lauf
  Barrierefreiheit (Browser wiederverwendet) : {per_min['a11y']:6.1f} Seiten/min ({t_a11y:.1f} s)
  DSGVO (frischer Browser je Seite, settle {args.settle:g}s): {per_min['gdpr']:6.1f} Seiten/min ({t_gdpr:.1f} s)
  Verhältnis DSGVO / Barrierefreiheit        : {per_min['gdpr'] / per_min['a11y']:.2f}x
  beide in einem Besuch                      : {per_min['both']:6.1f} Seiten/min ({t_both:.1f} s)
  Ersparnis gegenüber zwei Durchläufen       : {saved * 100:.0f} % ({t_a11y + t_gdpr:.1f} s -> {t_both:.1f} s)
  axe-Ergebnisse gleich                      : {'ja' if rules_a11y == rules_both else 'NEIN'} ({len(rules_a11y)} Regelverstöße)
""")


if __name__ == "__main__":
    main()
