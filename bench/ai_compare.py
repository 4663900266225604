"""Benchmark: the AI-Act pass of this tree (generic detection, perceived text through shadow
roots and frames, the timer watch for late widgets) against the version before it, side by side.

Both sides check the same `--pages` local pages (a third without any chat, a third with a
listed vendor's disclosed widget, a third with an unlisted assistant in a floating container
whose iframe says it is a chatbot) with the same settings (`open_widget: false`, which the
earlier version's default was, so both do the same clicks: none); alternating base and this
tree for `--rounds` rounds, each in its own process with its own code (`git worktree` of
`--base`). Printed: pages per minute of each side (median over the rounds), the ratio, and
seconds per page. Goal: this tree's time per page at most 1.2x the earlier one's.

    python -m bench.ai_compare [--base 1cd3b58] [--rounds 3] [--pages 30]
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASE = "1cd3b58"  # the last commit before the AI-Act detection of issue 42
FIXED = "position:fixed;right:16px;bottom:16px;width:300px"


def _page(i: int) -> bytes:
    kind = i % 3
    widget = ""
    if kind == 1:  # a listed vendor's widget, disclosed in its launcher
        widget = f'<div id="moinai-widget" style="{FIXED}"><button>KI-Assistent: Fragen Sie unseren Chatbot</button></div>'
    elif kind == 2:  # an unlisted assistant: floating container, iframe saying what it is
        widget = (f'<div id="chat-{i}" class="chatbot" style="{FIXED}"><button>Fragen Sie Lisa</button>'
                  '<iframe title="Chatbot" src="/fenster"></iframe></div>')
    news = "".join(f"<article><h2>Meldung {n}</h2><p>Die Stadtverwaltung informiert über Termine und "
                   f"Öffnungszeiten im Bürgerbüro, Woche {n}.</p></article>" for n in range(20))
    return (f"<!doctype html><html lang=de><head><meta charset=utf-8><title>Seite {i}</title></head><body>"
            f"<header><nav><a href=/a>Start</a> <a href=/b>Leistungen</a></nav></header><main><h1>Seite {i}</h1>"
            f"{news}</main><footer><a href=/impressum>Impressum</a> <a href=/datenschutz>Datenschutzerklärung</a>"
            f"</footer>{widget}</body></html>").encode()


def worker(pages: int, pool_size: int) -> None:
    """One AI-Act pass with the code on sys.path; prints its JSON figures."""
    from checks import ai_act
    from checks.browser import BrowserPool, BrowserSettings
    try:  # where the context lives since issue 37; before it, in checks.kind
        from checks.context import CheckContext
    except ImportError:
        from checks.kind import CheckContext  # type: ignore[no-redef,attr-defined]
    from checks.result import Target
    from tests.sites import Page, site

    routes = {f"/p{i}": Page(body=_page(i)) for i in range(pages)}
    routes["/fenster"] = Page(body=b"<!doctype html><html lang=de><title>Chat</title><p>Ich bin ein Chatbot.</p></html>")
    routes["/datenschutz"] = Page(body=b"<!doctype html><html lang=de><title>Datenschutz</title><p>moin.ai</p></html>")
    with site(routes) as port:
        urls = [f"http://127.0.0.1:{port}/p{i}" for i in range(pages)]
        pool = BrowserPool(BrowserSettings(), pool_size)
        settings = ai_act.AiActSettings(max_pages=pages, timeout=30, open_widget=False, privacy_page=False)
        try:
            t0 = time.perf_counter()
            result = ai_act.run(Target("bench", urls[0], tuple(urls)), settings, CheckContext(browser=pool))
            seconds = time.perf_counter() - t0
        finally:
            pool.close()
    print(json.dumps({"seconds": seconds, "pages": result.measurements["pages_scanned"],
                      "widgets": result.measurements.get("widgets", 0), "code": ai_act.__file__}))


def main() -> None:
    if "--worker" in sys.argv:
        pages, pool = int(sys.argv[sys.argv.index("--pages") + 1]), int(sys.argv[sys.argv.index("--pool") + 1])
        worker(pages, pool)
        return
    from bench.sides import page_pass_compare

    sys.argv += [] if "--pages" in sys.argv else ["--pages", "30"]
    args, figures, rows = page_pass_compare(ROOT / "bench" / "ai_compare.py", BASE, __doc__ or "")
    base, head = statistics.median(figures["base"]), statistics.median(figures["this"])
    print(f"""
KI-Verordnung mit der neuen Erkennung: dieser Stand gegen {args.base}, {args.pages} lokale Seiten, Pool {args.pool},
{args.rounds} Runden im Wechsel (open_widget: false auf beiden Seiten)
  vorher ({args.base})   {base:6.1f} Seiten/min   ({", ".join(f"{x:.1f}" for x in figures["base"])})
  dieser Stand         {head:6.1f} Seiten/min   ({", ".join(f"{x:.1f}" for x in figures["this"])})
  Widgets gefunden (dieser Stand): {rows[-1]["widgets"]:.0f}
  Zeit je Seite: {60 / base:.2f} s vorher, {60 / head:.2f} s jetzt: {base / head:.3f}x (Ziel: höchstens 1,2x)""")


if __name__ == "__main__":
    main()
