"""`egov-monitor incident ...` (outage records, announced maintenance) and `egov-monitor statuspage`.

Records are written to the store the daemon reads, so the status page shows them within its
cache time (settings `status_page.cache_seconds`) and the next report lists them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from monitor.incidents import CAUSES, STATUSES, Incident, IncidentBook, IncidentError, Update, as_dict, parse_time

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _with_book(args: argparse.Namespace, load: Callable[[argparse.Namespace], Any],
               action: Callable[[Any, IncidentBook], int]) -> int:
    from monitor.store import Store

    config = load(args)
    if config is None:
        return EXIT_FAILED
    store = Store.open(config.store_url, config.kinds, tz=config.settings.tz)
    try:
        return action(config, IncidentBook(store))
    except IncidentError as exc:
        print(f"Nicht gespeichert: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        store.close()


def _services(config: Any, wanted: list[str]) -> tuple[str, ...]:
    ids = tuple(s for part in wanted for s in part.split(",") if s)
    unknown = [s for s in ids if s not in config.services]
    if unknown:
        raise IncidentError(f"unbekannte Dienst-ID {', '.join(unknown)}; `egov-monitor validate` listet den Katalog")
    return ids


def _show(record: Incident, tz: Any) -> None:
    def when(ts: float | None) -> str:
        return "–" if ts is None else datetime.fromtimestamp(ts, tz).strftime("%d.%m.%Y %H:%M")

    print(f"{record.key}  {record.type_label}: {record.title}")
    print(f"  Stand: {record.status_label}; Dienste: {', '.join(record.services)}")
    print(f"  Beginn: {when(record.starts_at)}  Ende: {when(record.ends_at)}"
          + (f"  Ursache: {record.cause_label}" if record.record_type == "incident" else "")
          + (f"  Ticket: {record.ticket}" if record.ticket else ""))
    for u in record.updates:
        print(f"    {when(u.at)} {u.status_label}: {u.text}")


def cmd_open(args: argparse.Namespace, load: Callable[[argparse.Namespace], Any]) -> int:
    def action(config: Any, book: IncidentBook) -> int:
        tz = config.settings.tz
        start = parse_time(args.start, tz) if args.start else time.time()
        record = Incident(args.key or book.next_key(start, tz), "incident", args.title, args.cause, args.ticket,
                          _services(config, args.service), start, None, "cli",
                          (Update(start, args.status, args.text),))
        book.add(record)
        print(f"Störung {record.key} angelegt.")
        return EXIT_OK
    return _with_book(args, load, action)


def cmd_maintenance(args: argparse.Namespace, load: Callable[[argparse.Namespace], Any]) -> int:
    def action(config: Any, book: IncidentBook) -> int:
        tz = config.settings.tz
        start, end = parse_time(args.start, tz), parse_time(args.end, tz)
        if end <= start:
            raise IncidentError("--bis liegt nicht nach --von")
        record = Incident(args.key or book.next_key(start, tz), "maintenance", args.title, None, args.ticket,
                          _services(config, args.service), start, end, "cli", (Update(time.time(), "scheduled", args.text),))
        book.add(record)
        print(f"Wartung {record.key} angekündigt.")
        return EXIT_OK
    return _with_book(args, load, action)


def cmd_update(args: argparse.Namespace, load: Callable[[argparse.Namespace], Any]) -> int:
    def action(config: Any, book: IncidentBook) -> int:
        tz = config.settings.tz
        at = parse_time(args.at, tz) if args.at else time.time()
        record = book.get(args.key)
        status = args.status or record.status
        if record.record_type == "maintenance" and status == "resolved":
            status = "completed"
        closing = status in ("resolved", "completed")
        if closing and record.record_type == "incident" and record.ends_at is not None:
            raise IncidentError(f"{args.key} ist schon behoben")
        if at < record.starts_at:
            raise IncidentError("die Meldung liegt vor dem Beginn; --zeit prüfen")
        book.add_update(args.key, Update(at, status, args.text), ends_at=at if closing else None)
        print(f"{args.key}: Meldung gespeichert ({STATUSES[status]}).")
        return EXIT_OK
    return _with_book(args, load, action)


def cmd_list(args: argparse.Namespace, load: Callable[[argparse.Namespace], Any]) -> int:
    def action(config: Any, book: IncidentBook) -> int:
        now = time.time()
        records = book.all(since=None if args.all else now - 30 * 86400)
        if args.json:
            print(json.dumps([as_dict(r, config.settings.tz) for r in records], ensure_ascii=False, indent=1))
            return EXIT_OK
        if not records:
            print("Keine Einträge" + ("." if args.all else " der letzten 30 Tage (--alle zeigt alle)."))
        for r in records:
            _show(r, config.settings.tz)
        return EXIT_OK
    return _with_book(args, load, action)


def cmd_show(args: argparse.Namespace, load: Callable[[argparse.Namespace], Any]) -> int:
    def action(config: Any, book: IncidentBook) -> int:
        record = book.get(args.key)
        if args.json:
            print(json.dumps(as_dict(record, config.settings.tz), ensure_ascii=False, indent=1))
        else:
            _show(record, config.settings.tz)
        return EXIT_OK
    return _with_book(args, load, action)


def cmd_statuspage(args: argparse.Namespace, load: Callable[[argparse.Namespace], Any]) -> int:
    from monitor.statuspage import export
    from monitor.store import Store

    config = load(args)
    if config is None:
        return EXIT_FAILED
    store = Store.open(config.store_url, config.kinds, tz=config.settings.tz)
    try:
        written = export(config, store, args.out)
    finally:
        store.close()
    print(f"Statusseite geschrieben: {len(written)} Dateien in {args.out}")
    return EXIT_OK


def add_parsers(sub: Any, with_config: Callable[[argparse.ArgumentParser], argparse.ArgumentParser],
                load: Callable[[argparse.Namespace], Any]) -> None:
    def bind(p: argparse.ArgumentParser, func: Callable[[argparse.Namespace, Any], int]) -> None:
        p.set_defaults(func=lambda args: func(args, load))

    incident = sub.add_parser("incident", help="Störungen dokumentieren, Wartungen ankündigen (Statusseite, Bericht)")
    isub = incident.add_subparsers(dest="incident_command", required=True)
    causes = ", ".join(f"{k} ({v})" for k, v in CAUSES.items())
    p = with_config(isub.add_parser("open", help="Störung anlegen"))
    p.add_argument("--service", "-s", action="append", required=True, help="betroffene Dienst-ID (mehrfach oder Komma)")
    p.add_argument("--title", required=True, help="Überschrift (öffentlich, deutsch)")
    p.add_argument("--text", required=True, help="erste Meldung (öffentlich, deutsch)")
    p.add_argument("--cause", required=True, choices=list(CAUSES), help=f"Ursache: {causes}")
    p.add_argument("--ticket", help="Ticketnummer (nur intern: Bericht, CLI)")
    p.add_argument("--start", help="Beginn, z. B. 2026-03-04T09:12 (Ortszeit); Standard: jetzt")
    p.add_argument("--status", default="investigating", choices=["investigating", "identified", "monitoring"])
    p.add_argument("--key", help="eigener Schlüssel (Standard: Datum und laufende Nummer)")
    bind(p, cmd_open)
    p = with_config(isub.add_parser("update", help="Meldung zu einer Störung oder Wartung ergänzen"))
    p.add_argument("key")
    p.add_argument("--text", required=True)
    p.add_argument("--status", choices=list(STATUSES), help="neuer Stand; resolved/completed schließt den Eintrag")
    p.add_argument("--at", help="Zeitpunkt (Standard: jetzt)")
    bind(p, cmd_update)
    p = with_config(isub.add_parser("close", help="Störung als behoben schließen"))
    p.add_argument("key")
    p.add_argument("--text", default="Die Störung ist behoben.")
    p.add_argument("--at", help="Ende (Standard: jetzt)")
    p.set_defaults(status="resolved")
    bind(p, cmd_update)
    p = with_config(isub.add_parser("maintenance", help="Wartung ankündigen"))
    p.add_argument("--service", "-s", action="append", required=True)
    p.add_argument("--title", required=True)
    p.add_argument("--text", required=True)
    p.add_argument("--from", dest="start", required=True, help="Beginn, z. B. 2026-03-07T22:00")
    p.add_argument("--to", dest="end", required=True, help="geplantes Ende")
    p.add_argument("--ticket")
    p.add_argument("--key")
    bind(p, cmd_maintenance)
    p = with_config(isub.add_parser("list", help="Einträge der letzten 30 Tage zeigen"))
    p.add_argument("--alle", "--all", dest="all", action="store_true", help="alle Einträge")
    p.add_argument("--json", action="store_true")
    bind(p, cmd_list)
    p = with_config(isub.add_parser("show", help="einen Eintrag mit allen Meldungen zeigen"))
    p.add_argument("key")
    p.add_argument("--json", action="store_true")
    bind(p, cmd_show)
    p = with_config(sub.add_parser("statuspage", help="Statusseite als statische Dateien schreiben"))
    p.add_argument("--out", type=Path, required=True, help="Zielverzeichnis")
    bind(p, cmd_statuspage)
