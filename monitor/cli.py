"""egov-monitor command line: run (or scheduler and worker), check, validate, reload, schema.

Messages for operators are German; exit codes: 0 fine, 1 a target is down or the
configuration is invalid, 2 wrong usage, 3 results unknown (the monitor could not tell).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import logging
import os
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path

from checks.result import CheckKind, CheckResult, State

DEFAULT_CONFIG = os.environ.get("EGOV_MONITOR_CONFIG", "config/settings.yaml")
EXIT_OK, EXIT_DOWN, EXIT_USAGE, EXIT_UNKNOWN = 0, 1, 2, 3

_STATE_DE = {State.UP: "verfügbar", State.DEGRADED: "eingeschränkt", State.DOWN: "AUSFALL", State.UNKNOWN: "unbekannt"}
_STATE_STYLE = {State.UP: "green", State.DEGRADED: "yellow", State.DOWN: "bold red", State.UNKNOWN: "magenta"}


def _setup_logging(level: str) -> None:
    logging.basicConfig(level=getattr(logging, level), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    # Dramatiq logs every message's arguments at DEBUG; its own INFO lines are enough.
    logging.getLogger("dramatiq").setLevel(logging.INFO if level == "DEBUG" else logging.WARNING)


def _print_config_error(exc) -> None:
    print(f"Konfiguration ungültig ({len(exc.issues)} Fehler):", file=sys.stderr)
    for issue in exc.issues:
        print(f"  {issue}", file=sys.stderr)


def _load(args: argparse.Namespace):
    """The configuration, or None after printing every problem."""
    from monitor.config import ConfigError, load_config

    try:
        return load_config(args.config)
    except ConfigError as exc:
        _print_config_error(exc)
        return None


def cmd_validate(args: argparse.Namespace) -> int:
    config = _load(args)
    if config is None:
        return EXIT_DOWN
    from checks import REGISTRY

    targets = sum(1 if REGISTRY[k].scope == "service" else len(s.urls) for s in config.services.values() for k in s.checks)
    note = " (Beispielkatalog)" if config.example else ""
    print(f"Konfiguration gültig{note}: {len(config.services)} Dienste, {targets} Prüfziele.")
    return EXIT_OK


def _serve(args: argparse.Namespace, make) -> int:
    """Build a long-running process (daemon, scheduler, worker) and run it until SIGTERM."""
    from monitor.config import ConfigError

    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must never download or phone home
    os.environ.setdefault("SE_AVOID_STATS", "true")
    try:
        process = make()
    except ConfigError as exc:
        _print_config_error(exc)
        return EXIT_DOWN
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_USAGE
    except ImportError as exc:
        print(f"Start fehlgeschlagen: {exc}. Für den verteilten Betrieb installieren: "
              "pip install 'egov-monitor[distributed]'", file=sys.stderr)
        return EXIT_DOWN
    except Exception as exc:  # noqa: BLE001 - database or queue unreachable at start: say which, exit non-zero
        print(f"Start fehlgeschlagen: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_DOWN
    _setup_logging(args.log_level or process.config.settings.log_level)
    try:
        process.run_forever()
    except OSError as exc:
        print(f"Start fehlgeschlagen: {exc}", file=sys.stderr)
        return EXIT_DOWN
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from monitor.daemon import Daemon

    return _serve(args, lambda: Daemon(args.config))


def cmd_scheduler(args: argparse.Namespace) -> int:
    from monitor.daemon import Daemon

    return _serve(args, lambda: Daemon(args.config, role="scheduler"))


def cmd_worker(args: argparse.Namespace) -> int:
    from monitor.worker import Worker

    queues = [q.strip() for q in args.queues.split(",") if q.strip()]
    return _serve(args, lambda: Worker(args.config, queues, args.listen))


def _unknown_services(names: list[str], config) -> bool:
    """Say which service ids are not in the catalog; True if there were any."""
    unknown = [s for s in names if s not in config.services]
    if unknown:
        print(f"Unbekannte Dienste: {', '.join(unknown)}. Bekannt: {', '.join(sorted(config.services))}", file=sys.stderr)
    return bool(unknown)


def cmd_check(args: argparse.Namespace) -> int:
    from monitor.runner import CanaryGuard, CheckRunner

    config = _load(args)
    if config is None:
        return EXIT_DOWN
    wanted = args.services or list(config.services)
    if _unknown_services(wanted, config):
        return EXIT_USAGE
    from checks import REGISTRY, browser

    kinds = [CheckKind(args.kind)] if args.kind else list(CheckKind)
    jobs = [(config.services[s], k, url, config.services[s].checks[k])
            for s in wanted for k in kinds if k in config.services[s].checks
            for url in (config.services[s].urls[:1] if REGISTRY[k].scope == "service" else config.services[s].urls)]
    if not jobs:
        print("Keine passenden Prüfungen konfiguriert.", file=sys.stderr)
        return EXIT_USAGE
    store = None
    if args.store:
        from monitor.store import Store
        store = Store.open(config.store_url)
    runner = CheckRunner(store, CanaryGuard(config.settings.canaries), config.settings.tz)
    results: list[CheckResult] = []
    browser.configure(config.settings.browser, config.settings.pools.browser)
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=min(config.settings.pools.http, len(jobs))) as pool:
            futures = [pool.submit(runner.run if store else runner.execute, *job) for job in jobs]
            results = _collect_with_progress(futures, show=len(jobs) > 1 and sys.stderr.isatty() and not args.json)
    finally:
        browser.shutdown()
    results.sort(key=lambda r: (r.service_id, r.kind.value, r.url))
    return _show(results, config, as_json=args.json)


def cmd_results(args: argparse.Namespace) -> int:
    """The newest stored result of each target, with its evidence: what an alert refers to."""
    config = _load(args)
    if config is None:
        return EXIT_DOWN
    if _unknown_services(args.services, config):
        return EXIT_USAGE
    from monitor.store import Store

    store = Store.open(config.store_url)
    try:
        latest = store.latest(args.kind)
    finally:
        store.close()
    wanted = set(args.services or config.services)
    results = sorted((item.result for item in latest if item.result.service_id in wanted),
                     key=lambda r: (r.service_id, r.kind.value, r.url))
    if not results:
        print("Keine gespeicherten Ergebnisse für diese Auswahl (läuft der Daemon mit diesem Speicher?).",
              file=sys.stderr)
        return EXIT_UNKNOWN
    return _show(results, config, as_json=args.json)


def _show(results: list[CheckResult], config, *, as_json: bool) -> int:
    if as_json:
        json.dump([r.to_dict() for r in results], sys.stdout, ensure_ascii=False, indent=2)
        print()
    else:
        _print_table(results, config)
        _print_security(r for r in results if r.kind is CheckKind.SECURITY)
        _print_accessibility(r for r in results if r.kind is CheckKind.ACCESSIBILITY)
        _print_gdpr(r for r in results if r.kind is CheckKind.GDPR)
    states = {r.state for r in results}
    if State.DOWN in states:
        return EXIT_DOWN
    if State.UNKNOWN in states:
        return EXIT_UNKNOWN
    return EXIT_OK


def _collect_with_progress(futures, show: bool) -> list[CheckResult]:
    if not show:
        return [f.result() for f in futures]
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    out = []
    with Progress(TextColumn("Prüfe"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  transient=True, console=_console(stderr=True)) as progress:
        task = progress.add_task("checks", total=len(futures))
        for f in concurrent.futures.as_completed(futures):
            out.append(f.result())
            progress.advance(task)
    return out


def _console(stderr: bool = False):
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    # Pipes and CI logs get a wide table instead of rich's 80-column default.
    return Console(stderr=stderr, highlight=False, width=None if stream.isatty() else 200)


def _print_table(results: list[CheckResult], config) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="egov-monitor: Prüfergebnis", title_justify="left")
    for col in ("Dienst", "Prüfung", "URL", "Zustand", "Grund", "HTTP", "Dauer", "Details"):
        table.add_column(col, overflow="fold")
    for r in results:
        detail = str(r.evidence.get("detail", ""))
        if r.evidence.get("service_reason"):
            detail = f"Dienst: {r.evidence['service_reason']}; Referenzziele (Canaries) ebenfalls gestört"
        if r.evidence.get("in_maintenance"):
            detail += " [Wartungsfenster]"
        attempts = r.evidence.get("attempts") or []
        if len(attempts) > 1:
            detail += f" ({len(attempts)} Versuche)"
        status = int(r.measurements.get("status_code", 0)) or "-"
        table.add_row(escape(r.service_id), r.kind.value, escape(r.url),
                      f"[{_STATE_STYLE[r.state]}]{_STATE_DE[r.state]}[/]", r.reason.value, str(status),
                      f"{r.measurements.get('duration_seconds', r.duration_seconds):.3f}s", escape(detail))
    _console().print(table)


_SEVERITY_DE = {"critical": ("KRITISCH", "bold red"), "warning": ("Warnung", "yellow"), "notice": ("Hinweis", "cyan")}
_TLS_DE = {"TLSv1": "1.0", "TLSv1.1": "1.1", "TLSv1.2": "1.2", "TLSv1.3": "1.3"}


def _print_security(results) -> None:
    """Per URL: grade, TLS and security.txt at a glance, then every finding with its fix."""
    from rich.markup import escape
    from rich.table import Table

    console = _console()
    for r in results:
        ev = r.evidence
        obs = ev.get("observatory")
        head = f"[bold]{escape(r.service_id)}[/] {escape(r.url)}: "
        if obs:
            head += (f"Note [bold]{obs['grade']}[/] ({obs['score']} Punkte, {obs['tests_passed']}/"
                     f"{obs['tests_passed'] + obs['tests_failed']} Tests bestanden; Bewertung nach "
                     f"{ev['algorithm']} Version {ev['algorithm_version']})")
        else:
            head += f"[bold red]keine Bewertung[/]: {escape(str(ev.get('detail', '')))}"
        console.print(head)
        t = ev.get("tls") or {}
        if t.get("accepted"):
            versions = ", ".join(f"{_TLS_DE[v]} {'ja' if ok else 'nein'}" for v, ok in t["accepted"].items() if ok is not None)
            cert = t.get("certificate") or {}
            days = ""
            if "tls_cert_expiry_timestamp" in r.measurements:
                days = f", Zertifikat noch {(r.measurements['tls_cert_expiry_timestamp'] - time.time()) / 86400:.0f} Tage gültig"
            console.print(f"  TLS: {versions}; Forward Secrecy {'ja' if t.get('forward_secrecy') else 'nein'}; "
                          f"{escape(cert.get('key_type', '?'))} {cert.get('key_bits', '?')} Bit{days}; "
                          f"BSI TR-02102-2: {'erfüllt' if t.get('compliant') else '[bold red]nicht erfüllt[/]'}")
        stxt = ev.get("security_txt")
        if stxt:
            console.print(f"  security.txt: {'gültig' if stxt.get('valid') else 'fehlt oder ungültig'}")
        findings = ev.get("findings") or []
        if not findings:
            continue
        table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
        for col in ("Schwere", "Prüfung", "Befund", "Abhilfe"):
            table.add_column(col, overflow="fold")
        order = {"critical": 0, "warning": 1, "notice": 2}
        for f in sorted(findings, key=lambda f: order.get(f.get("severity"), 3)):
            label, style = _SEVERITY_DE.get(f.get("severity"), (f.get("severity"), ""))
            message = str(f.get("message", ""))
            if f.get("evidence"):
                message += f" [{str(f['evidence'])[:160]}]"
            table.add_row(f"[{style}]{label}[/]", escape(str(f.get("title", ""))), escape(message),
                          escape(str(f.get("fix", ""))))
        console.print(table)


_IMPACT_DE = {"critical": ("kritisch", "bold red"), "serious": ("schwer", "red"), "moderate": ("mittel", "yellow"),
              "minor": ("gering", "cyan")}
_MARKER_STATE_DE = {"pass": "[green]erfüllt[/]", "fail": "[bold red]nicht erfüllt[/]", "unknown": "[magenta]nicht feststellbar[/]"}


def _print_accessibility(results) -> None:
    """Per service: pages, violations deduplicated across pages, then the BITV markers."""
    from rich.markup import escape
    from rich.table import Table

    from checks.accessibility import MARKER_NAMES_DE, dedupe

    console = _console()
    for r in results:
        ev, m = r.evidence, r.measurements
        pages = ev.get("pages") or []
        head = (f"[bold]{escape(r.service_id)}[/]: {int(m.get('pages_scanned', 0))} von {len(pages)} Seiten geprüft "
                f"(axe-core {escape(str(ev.get('axe_version', '?')))}, Regeln: {escape(', '.join(ev.get('tags', [])))})")
        if "score" in m:
            head += f"; Punktzahl {m['score']:.0f}/100"
        console.print(head)
        for page in pages:
            if page.get("error"):
                console.print(f"  [magenta]nicht geprüft[/]: {escape(page['url'])}: {escape(str(page['error']))}")
        rows = dedupe(r)
        if rows:
            table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
            for col in ("Auswirkung", "Regel", "Seiten", "Elemente", "Beispiel"):
                table.add_column(col, overflow="fold")
            for row in rows:
                label, style = _IMPACT_DE.get(row["impact"], (row["impact"], ""))
                table.add_row(f"[{style}]{label}[/]", escape(f"{row['rule']}: {row['help']}"), str(row["pages"]),
                              str(row["nodes"]), escape(f"{row['example_url']} {row['example_target']}"))
            console.print(table)
        elif m.get("pages_scanned"):
            console.print("  keine Verstöße gefunden")
        for ex in ev.get("excluded_rules") or []:
            console.print(f"  Regel ausgenommen: {escape(ex['rule'])} ({escape(ex['reason'])})")
        for name, marker in (r.to_dict()["evidence"].get("markers") or {}).items():
            console.print(f"  BITV: {MARKER_NAMES_DE.get(name, name)}: "
                          f"{_MARKER_STATE_DE.get(marker['state'], marker['state'])} {escape(_marker_detail(marker))}")


def _marker_detail(marker: dict) -> str:
    """The evidence of one BITV marker in a line: the link found, the date, where it is missing."""
    parts = []
    if marker.get("link"):
        parts.append(f"Link \"{marker['link']['text']}\" -> {marker['link']['url']}")
    if marker.get("date"):
        parts.append(f"Datum {marker['date']} ({marker['age_days']} Tage alt)")
    if marker.get("found"):
        parts.append(f"gefunden: \"{marker['found']}\"")
    if "start_page_lang" in marker:
        parts.append(f"lang der Startseite: {marker['start_page_lang'] or 'fehlt'}")
    if marker.get("missing_on"):
        parts.append("fehlt auf: " + ", ".join(marker["missing_on"][:5]))
    if marker.get("detail"):
        parts.append(marker["detail"])
    return "; ".join(parts)[:400]


_GDPR_SEVERITY_DE = {"high": "[bold red]hoch[/]", "medium": "[yellow]mittel[/]", "low": "[cyan]gering[/]"}
_COUNTS_DE = (("third_party_hosts", "Drittanbieter-Hosts"), ("trackers", "Tracker"),
              ("third_party_cookies", "Drittanbieter-Cookies"), ("nonessential_cookies", "nicht notwendige eigene Cookies"),
              ("storage_keys", "Storage-Einträge (nicht notwendig)"), ("requests", "Anfragen"))


def _gdpr_item(item: dict) -> str:
    """One piece of DSGVO evidence in a line: host, cookie, storage key, form, link or reference."""
    if "name" in item and "domain" in item:
        text = f"Cookie {item['name']} ({item['domain']}, bis {item.get('expires', '?')}, gesetzt von {item.get('set_by', '?')})"
        if item.get("stored") is False:
            why = "; ".join(item.get("refused") or []) or "Grund unbekannt"
            text += f" – versucht, vom Browser abgelehnt: {why}{' (gefolgert)' if item.get('reason_inferred') else ''}"
    elif "key" in item:
        text = f"{'Local' if item.get('kind') == 'local' else 'Session'} Storage {item['origin']}: {item['key']}"
    elif "host" in item:
        cat = f" [{item['category']}, {item.get('owner', '')}]" if item.get("category") else ""
        text = f"{item['host']}{cat}: {item.get('requests', '?')} Anfragen, z. B. {item.get('example', '')}"
    elif "action" in item:
        text = f"Formular {item.get('name') or ''} sendet an {item['action']} ({item.get('method', '').upper()})"
    elif "reference" in item:
        text = f"\"{item['reference']}\" in {item['url']}: …{item.get('context', '')}…"
    elif "http_url" in item:
        text = f"{item['http_url']} -> {item.get('status') or '-'} {item.get('location') or item.get('detail', '')}"
    elif "found" in item:
        text = f"fehlt auf {item['page']}" if not item["found"] else f"{item['page']}: \"{item.get('text', '')}\" -> {item.get('url', '')}"
    else:
        text = ", ".join(f"{k}={v}" for k, v in item.items())
    page = item.get("page")
    if page and "found" not in item:
        text += f" (Seite {page})"
    return text[:500]


def _print_gdpr(results) -> None:
    """Per service: counts before (and after) consent side by side, the findings with evidence, every marker."""
    from rich.markup import escape
    from rich.table import Table

    from checks.gdpr import MARKER_NAMES_DE

    console = _console()
    for r in results:
        ev = r.to_dict()["evidence"]
        m = r.measurements
        pages = ev.get("pages") or []
        console.print(f"[bold]{escape(r.service_id)}[/]: {int(m.get('pages_scanned', 0))} von {len(pages)} Seiten "
                      "in frischem Browser vor jeder Einwilligung aufgezeichnet")
        for page in pages:
            if page.get("error"):
                console.print(f"  [magenta]nicht aufgezeichnet[/]: {escape(page['url'])}: {escape(str(page['error']))}")
        after = ev.get("after_consent")
        table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
        table.add_column("")
        table.add_column("vor Einwilligung", justify="right")
        if after:
            table.add_column("nach Einwilligung (" + escape(", ".join(after.get("cookies_set", []))) + ")", justify="right")
        before_counts = (ev.get("summary") or {}).get("counts") or {}
        after_counts = ((after or {}).get("summary") or {}).get("counts") or {}
        for key, label in _COUNTS_DE:
            row = [label, str(before_counts.get(key, "-"))]
            if after:
                row.append(str(after_counts.get(key, "-")))
            table.add_row(*row)
        console.print(table)
        findings = ev.get("findings") or []
        if not findings and m.get("pages_scanned"):
            console.print("  keine DSGVO-Befunde")
        for f in findings:
            console.print(f"  {_GDPR_SEVERITY_DE.get(f['severity'], f['severity'])}: {escape(MARKER_NAMES_DE.get(f['marker'], f['marker']))}"
                          f" – {escape(f.get('detail', ''))}")
            for item in f.get("evidence", [])[:10]:
                if item.get("found") is True:
                    continue
                console.print(f"      {escape(_gdpr_item(item))}")
        for name, marker in (ev.get("markers") or {}).items():
            extra = f" ({escape(marker['detail'])})" if marker.get("detail") and marker["state"] != "fail" else ""
            console.print(f"  DSGVO: {MARKER_NAMES_DE.get(name, name)}: "
                          f"{_MARKER_STATE_DE.get(marker['state'], marker['state'])}{extra}")
        if after:
            new_hosts = sorted({h["host"] for h in after["summary"]["hosts"]} - {h["host"] for h in ev["summary"]["hosts"]})
            if new_hosts:
                console.print("  nach Einwilligung zusätzlich kontaktiert: " + escape(", ".join(new_hosts[:20])))


def cmd_reload(args: argparse.Namespace) -> int:
    config = _load(args)
    if config is None:
        print("Nichts neu geladen; der laufende Daemon behält seine Konfiguration.", file=sys.stderr)
        return EXIT_DOWN
    host, port = config.settings.listen_host_port
    host = "127.0.0.1" if host in ("", "0.0.0.0") else host
    req = urllib.request.Request(f"http://{host}:{port}/-/reload", method="POST", data=b"")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            print(resp.read().decode().strip())
            return EXIT_OK
    except urllib.error.HTTPError as exc:
        print(exc.read().decode().strip(), file=sys.stderr)
        return EXIT_DOWN
    except OSError as exc:
        print(f"Daemon unter {host}:{port} nicht erreichbar: {exc}", file=sys.stderr)
        return EXIT_DOWN


def cmd_schema(_args: argparse.Namespace) -> int:
    from monitor.config import json_schema

    json.dump(json_schema(), sys.stdout, indent=2, ensure_ascii=False)
    print()
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from monitor import report
    from monitor.store import Store

    config = _load(args)
    if config is None:
        return EXIT_DOWN
    wanted = [s for part in args.services or [] for s in part.split(",") if s] or None
    if _unknown_services(wanted or [], config):
        return EXIT_USAGE
    store = Store.open(config.store_url, tz=config.settings.tz)
    steps = list(report.STEPS if not args.no_pdf else report.STEPS[:-1])
    with Progress(TextColumn("[bold]Bericht {task.fields[step]}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), disable=args.quiet, transient=False) as progress:
        task = progress.add_task("report", total=len(steps), step="")

        def step(name: str) -> None:
            progress.update(task, advance=0 if name == steps[0] else 1, step=name)

        try:
            files = report.build(store, config, args.year, args.out, services=wanted, pdf=not args.no_pdf, step=step)
        finally:
            store.close()
        progress.update(task, completed=len(steps), step="fertig")
    print(f"Bericht {args.year} geschrieben:")
    for path in (files.html, files.pdf, files.csv, files.json):
        if path is not None:
            print(f"  {path}")
    return EXIT_OK


def cmd_import_satisfaction(args: argparse.Namespace) -> int:
    from monitor.report.satisfaction import SatisfactionError, parse
    from monitor.store import Store

    config = _load(args)
    if config is None:
        return EXIT_DOWN
    try:
        figures = parse(args.file, set(config.services))
    except SatisfactionError as exc:
        print(f"Import abgelehnt, nichts gespeichert ({len(exc.problems)} Fehler):", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_DOWN
    store = Store.open(config.store_url, tz=config.settings.tz)
    try:
        n = store.import_satisfaction(figures)
    finally:
        store.close()
    print(f"{n} Zufriedenheitswerte importiert aus {args.file}.")
    return EXIT_OK


def cmd_reference(_args: argparse.Namespace) -> int:
    from monitor.config import reference_markdown

    print(reference_markdown())
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="egov-monitor", description="Qualitäts- und Compliance-Monitoring für E-Government-Dienste")
    sub = parser.add_subparsers(dest="command", required=True)

    def with_config(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--config", "-c", default=DEFAULT_CONFIG, type=Path,
                       help="Einstellungsdatei (Standard: %(default)s, oder $EGOV_MONITOR_CONFIG)")
        return p

    p = with_config(sub.add_parser("run", help="Daemon starten"))
    p.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.set_defaults(func=cmd_run)
    p = with_config(sub.add_parser("scheduler", help="verteilter Betrieb: Prüfungen planen und einreihen"))
    p.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.set_defaults(func=cmd_scheduler)
    p = with_config(sub.add_parser("worker", help="verteilter Betrieb: eingereihte Prüfungen ausführen"))
    p.add_argument("--queues", default="http,browser",
                   help="Warteschlangen, kommagetrennt: http (Verfügbarkeit, Sicherheit), browser "
                        "(Barrierefreiheit, DSGVO); Standard: %(default)s")
    p.add_argument("--listen", default=os.environ.get("EGOV_WORKER_LISTEN", "127.0.0.1:9470"),
                   help="host:port für /metrics und /healthz dieses Workers (Standard: %(default)s; leer: keiner)")
    p.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.set_defaults(func=cmd_worker)
    p = with_config(sub.add_parser("check", help="Dienste jetzt prüfen und Ergebnis anzeigen"))
    p.add_argument("services", nargs="*", metavar="SERVICE", help="Dienst-IDs (Standard: alle)")
    p.add_argument("--kind", choices=[k.value for k in CheckKind], help="nur diese Prüfart")
    p.add_argument("--json", action="store_true", help="Ergebnis als JSON ausgeben")
    p.add_argument("--store", action="store_true", help="Ergebnis zusätzlich im Speicher ablegen")
    p.set_defaults(func=cmd_check)
    p = with_config(sub.add_parser("results", help="letzte gespeicherte Ergebnisse mit Befunden anzeigen"))
    p.add_argument("services", nargs="*", metavar="SERVICE", help="Dienst-IDs (Standard: alle)")
    p.add_argument("--kind", choices=[k.value for k in CheckKind], help="nur diese Prüfart")
    p.add_argument("--json", action="store_true", help="Ergebnis als JSON ausgeben")
    p.set_defaults(func=cmd_results)
    with_config(sub.add_parser("validate", help="Katalog und Einstellungen prüfen")).set_defaults(func=cmd_validate)
    with_config(sub.add_parser("reload", help="laufenden Daemon die Konfiguration neu laden lassen")).set_defaults(func=cmd_reload)
    p = with_config(sub.add_parser("report", help="Jahresbericht (HTML, PDF, CSV, JSON) schreiben"))
    p.add_argument("--year", type=int, default=datetime.now().year, help="Berichtsjahr (Standard: laufendes Jahr)")
    p.add_argument("--services", nargs="*", metavar="SERVICE", help="nur diese Dienst-IDs (Leerzeichen oder Komma)")
    p.add_argument("--out", type=Path, default=Path("bericht"), help="Zielverzeichnis (Standard: %(default)s)")
    p.add_argument("--no-pdf", action="store_true", help="kein PDF schreiben")
    p.add_argument("--quiet", "-q", action="store_true", help="keinen Fortschrittsbalken zeigen")
    p.set_defaults(func=cmd_report)
    p = with_config(sub.add_parser("import-satisfaction", help="Zufriedenheitswerte aus einer CSV-Datei importieren"))
    p.add_argument("file", type=Path, metavar="DATEI.csv")
    p.set_defaults(func=cmd_import_satisfaction)
    sub.add_parser("schema", help="JSON-Schema des Katalogs ausgeben").set_defaults(func=cmd_schema)
    sub.add_parser("reference", help="Feldreferenz (Markdown) ausgeben").set_defaults(func=cmd_reference)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
