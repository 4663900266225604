"""docs/statusseite.png: the status page of a small example estate, as Chromium shows it.

Six public services with 90 days of results (a few bad days, one outage now), an open
incident with two updates, a resolved one and an announced maintenance; exported as static
files, served on 127.0.0.1 and photographed.

    .venv/bin/python scripts/statuspage_screenshot.py [docs/statusseite.png]
"""

from __future__ import annotations

import functools
import http.server
import sys
import tempfile
import textwrap
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from checks import browser  # noqa: E402
from checks.result import State  # noqa: E402
from monitor.config import load_config  # noqa: E402
from monitor.incidents import Incident, IncidentBook, Update  # noqa: E402
from monitor.kinds import builtin
from monitor.statuspage import export  # noqa: E402
from monitor.store import Store  # noqa: E402
from tests.helpers import result  # noqa: E402

KINDS = builtin()

SERVICES = [("servicekonto", "Servicekonto Saarland", "basisdienst", ()),
            ("epayment", "ePayment", "basisdienst", (12,)),
            ("kfz", "Kfz-Zulassung online", "efa", (40, 41)),
            ("wohngeld", "Wohngeld beantragen", "efa", ()),
            ("gewerbe", "Gewerbeanmeldung", "efa", (3,)),
            ("buergerbuero", "Terminvergabe Bürgerbüro", "kommune", ())]


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "statusseite.png"
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        (d / "settings.yaml").write_text(f'catalog: [catalog.yaml]\nstore: {{url: "sqlite:///{d / "s.db"}"}}\n'
                                         "status_page: {title: Status der Online-Dienste im Saarland, intro: "
                                         "\"Betrieb: Zweckverband eGo-Saar. Störungen melden Sie dem Servicedesk.\"}\n")
        (d / "catalog.yaml").write_text("services:\n" + "".join(textwrap.dedent(f"""\
              - id: {sid}
                name: {name}
                category: {cat}
                operator: Land Saarland
                contact: ops@example.invalid
                urls: ["https://{sid}.example.invalid/"]
                checks: {{availability: {{interval: 60s}}}}
                public: true
            """) for sid, name, cat, _bad in SERVICES))
        config = load_config(d / "settings.yaml", KINDS)
        store = Store.open(config.store_url, config.kinds, tz=config.settings.tz)
        now = datetime.now(UTC)
        items = []
        for sid, _name, _cat, bad in SERVICES:
            for day in range(89, -1, -1):
                for i in range(24):
                    at = now - timedelta(days=day, hours=23 - i)
                    down = (day in bad and i < 3) or (sid == "kfz" and day == 0 and i == 23)
                    items.append((result(State.DOWN if down else State.UP, at=at, service=sid,
                                         url=f"https://{sid}.example.invalid/"), None))
        store.record_batch(items)
        t = now.timestamp()
        book = IncidentBook(store)
        book.add(Incident("2026-a", "incident", "Kfz-Zulassung nicht erreichbar", "service_operator", None, ("kfz",),
                          t - 1800, None, "cli",
                          (Update(t - 1700, "investigating", "Die Kfz-Zulassung ist gestört. Wir sind mit dem "
                                                             "Betreiber in Kontakt."),
                           Update(t - 600, "identified", "Ein Update beim Betreiber ist fehlgeschlagen und wird "
                                                         "zurückgenommen."))))
        book.add(Incident("2026-b", "incident", "Zahlungen verzögert", "base_service", None, ("epayment",),
                          t - 12 * 86400, t - 12 * 86400 + 5400, "cli",
                          (Update(t - 12 * 86400, "investigating", "Zahlungen werden verzögert bestätigt."),
                           Update(t - 12 * 86400 + 5400, "resolved", "Behoben."))))
        book.add(Incident("2026-c", "maintenance", "Wartung des Servicekontos", None, None, ("servicekonto",),
                          t + 4 * 86400, t + 4 * 86400 + 7200, "cli",
                          (Update(t, "scheduled", "Die Anmeldung ist in dieser Zeit nicht möglich."),)))
        export(config, store, d / "out")
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(d / "out"))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        pool = browser.BrowserPool(browser.BrowserSettings(), 1)
        try:
            with pool.session(60) as session:
                session.driver.set_window_size(1100, 1500)
                session.driver.get(f"http://127.0.0.1:{server.server_address[1]}/index.html")
                session.driver.save_screenshot(str(out))
        finally:
            pool.close()
            server.shutdown()
    print(f"geschrieben: {out}")


if __name__ == "__main__":
    main()
