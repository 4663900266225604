"""egov-monitor command line: run (or scheduler and worker), check, validate, reload, schema,
report, incident and statuspage (monitor.incident_cli).

Messages for operators are German; exit codes: 0 fine, 1 a target is down or the
configuration is invalid, 2 wrong usage, 3 results unknown (the monitor could not tell).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import logging
import os
import re
import ssl
import sys
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path

from checks.result import CheckResult, State
from monitor.kinds import Kinds, builtin
from monitor.report.period import Period, PeriodError

DEFAULT_CONFIG = os.environ.get("EGOV_MONITOR_CONFIG", "config/settings.yaml")
EXIT_OK, EXIT_DOWN, EXIT_USAGE, EXIT_UNKNOWN = 0, 1, 2, 3

_STATE_DE = {State.UP: "verfügbar", State.DEGRADED: "eingeschränkt", State.DOWN: "AUSFALL", State.UNKNOWN: "unbekannt"}
_STATE_STYLE = {State.UP: "green", State.DEGRADED: "yellow", State.DOWN: "bold red", State.UNKNOWN: "magenta"}


def _setup_logging(level: str) -> None:
    logging.basicConfig(level=getattr(logging, level), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    # Selenium logs every WebDriver command with its arguments at DEBUG, the text typed into a
    # journey's fields included: never below INFO, whatever the operator asks for.
    logging.getLogger("selenium").setLevel(logging.INFO if level == "DEBUG" else logging.WARNING)
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
        return load_config(args.config, args.kinds)
    except ConfigError as exc:
        _print_config_error(exc)
        return None


def cmd_validate(args: argparse.Namespace) -> int:
    config = _load(args)
    if config is None:
        return EXIT_DOWN
    targets = sum(len(config.kinds[k].check.urls(s.urls, v)) for s in config.services.values() for k, v in s.checks.items())
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
    except Exception as exc:
        print(f"Start fehlgeschlagen: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_DOWN
    _setup_logging(args.log_level or process.config.settings.log_level)
    try:
        process.run_forever()
    except OSError as exc:
        print(f"Start fehlgeschlagen: {exc}", file=sys.stderr)
        return EXIT_DOWN
    _exit_now(EXIT_OK)
    return EXIT_OK  # (not reached)


def _exit_now(code: int) -> None:
    """End a long-running process that has stopped: its runs under way were recorded as cut
    short, the writer has committed, the store is closed. A pool thread may still wait in a
    check that blocks (a security check's read, a browser call) until that check's timeout, and
    the interpreter's exit joins every pool thread (concurrent.futures), so SIGTERM would take as
    long as the slowest check under way; its late result would be dropped anyway. A browser
    that such a thread was still starting is killed first: nothing outlives the process."""
    browser_host = sys.modules.get("checks.browser_host")  # (loaded with the browser pool, if any)
    if browser_host is not None:
        browser_host.kill_started()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def cmd_run(args: argparse.Namespace) -> int:
    from monitor.daemon import Daemon

    return _serve(args, lambda: Daemon(args.config, args.kinds))


def cmd_scheduler(args: argparse.Namespace) -> int:
    from monitor.scheduler import Scheduler

    return _serve(args, lambda: Scheduler(args.config, args.kinds))


def cmd_worker(args: argparse.Namespace) -> int:
    from monitor.worker import Worker

    chosen = args.queues if args.queues is not None else "http" if args.location else "http,browser"
    queues = [q.strip() for q in chosen.split(",") if q.strip()]
    return _serve(args, lambda: Worker(args.config, args.kinds, queues, args.listen, args.location))


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
    from checks.browser import PoolHolder
    from checks.context import CheckContext
    from monitor.process import trust_of

    kinds = [config.kinds[args.kind]] if args.kind else list(config.kinds)
    jobs = [(config.services[s], k.name, url, config.services[s].checks[k.name])
            for s in wanted for k in kinds if k.name in config.services[s].checks
            for url in k.check.urls(config.services[s].urls, config.services[s].checks[k.name])]
    if not jobs:
        print("Keine passenden Prüfungen konfiguriert.", file=sys.stderr)
        return EXIT_USAGE
    store = None
    if args.store:
        from monitor.store import Store
        store = Store.open(config.store_url, config.kinds)
    browsers = PoolHolder(config.browser_settings, config.settings.pools.browser)
    from monitor.dependencies import Attributor, store_rows
    attribution = Attributor(lambda: config, store_rows(config.kinds.status_kind(), store)) if store else None
    runner = CheckRunner(config.kinds, store, CanaryGuard(config.settings.canaries, config.proxy), config.settings.tz,
                         context=CheckContext(browser=browsers, proxy=config.proxy, **trust_of(config)),
                         attribution=attribution)
    results: list[CheckResult] = []
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=min(config.settings.pools.http, len(jobs))) as pool:
            futures = [pool.submit(runner.run if store else runner.execute, *job) for job in jobs]
            results = _collect_with_progress(futures, show=len(jobs) > 1 and sys.stderr.isatty() and not args.json)
    finally:
        browsers.close()
    results.sort(key=lambda r: (r.service_id, str(r.kind), r.url))
    return _show(results, config, as_json=args.json, attachments=args.anhaenge)


def cmd_results(args: argparse.Namespace) -> int:
    """The newest stored result of each target, with its evidence: what an alert refers to."""
    config = _load(args)
    if config is None:
        return EXIT_DOWN
    if _unknown_services(args.services, config):
        return EXIT_USAGE
    from monitor.store import Store

    store = Store.open(config.store_url, config.kinds)
    try:
        latest = store.latest(args.kind)
    finally:
        store.close()
    wanted = set(args.services or config.services)
    results = sorted((item.result for item in latest if item.result.service_id in wanted),
                     key=lambda r: (r.service_id, str(r.kind), r.url))
    if not results:
        print("Keine gespeicherten Ergebnisse für diese Auswahl (läuft der Daemon mit diesem Speicher?).",
              file=sys.stderr)
        return EXIT_UNKNOWN
    return _show(results, config, as_json=args.json, attachments=args.anhaenge)


def _write_attachments(results: list[CheckResult], config, folder: Path) -> None:
    """The files results carry (a failed journey step's screenshot), one file each."""
    folder.mkdir(parents=True, exist_ok=True)
    for r in results:
        kind = config.kinds.get(r.kind)
        for name, data in kind.attachments(r) if kind else []:
            path = folder / re.sub(r"[^A-Za-z0-9._-]", "_", name)
            path.write_bytes(data)
            print(f"Anhang gespeichert: {path}", file=sys.stderr)


def _show(results: list[CheckResult], config, *, as_json: bool, attachments: Path | None = None) -> int:
    if attachments is not None:
        _write_attachments(results, config, attachments)
    if as_json:
        json.dump([r.to_dict() for r in results], sys.stdout, ensure_ascii=False, indent=2)
        print()
    else:
        _print_table(results, config)
        console = _console()
        for kind in config.kinds:
            kind.show([r for r in results if r.kind == kind.name], console)
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

    from monitor.dependencies import caused_by_text

    names = {sid: svc.service.name for sid, svc in config.services.items()} if config is not None else {}
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
        if r.evidence.get("caused_by"):
            detail += f" [{caused_by_text(r.evidence['caused_by'], names)}]"
        status = int(r.measurements.get("status_code", 0)) or "-"
        table.add_row(escape(r.service_id), str(r.kind), escape(r.url),
                      f"[{_STATE_STYLE[r.state]}]{_STATE_DE[r.state]}[/]", r.reason.value, str(status),
                      f"{r.measurements.get('duration_seconds', r.duration_seconds):.3f}s", escape(detail))
    _console().print(table)


def cmd_reload(args: argparse.Namespace) -> int:
    config = _load(args)
    if config is None:
        print("Nichts neu geladen; der laufende Daemon behält seine Konfiguration.", file=sys.stderr)
        return EXIT_DOWN
    host, port = config.settings.listen_host_port
    host = "127.0.0.1" if host in ("", "0.0.0.0") else host
    web = config.web
    tls = web is not None and web.context is not None
    req = urllib.request.Request(f"{'https' if tls else 'http'}://{host}:{port}/-/reload", method="POST", data=b"")
    token = config.settings.reload_token(config.settings_file.parent)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    context = web.client_context() if tls else None
    if bool(args.client_cert) != bool(args.client_key):
        print("--client-cert und --client-key gehören zusammen: beide angeben", file=sys.stderr)
        return EXIT_DOWN
    if context is not None and args.client_cert:
        try:
            context.load_cert_chain(str(args.client_cert), str(args.client_key))
        except (OSError, ssl.SSLError) as exc:
            print(f"Client-Zertifikat {args.client_cert} oder Schlüssel {args.client_key} nicht ladbar ({exc})",
                  file=sys.stderr)
            return EXIT_DOWN
    try:
        with urllib.request.urlopen(req, timeout=30, context=context) as resp:
            print(resp.read().decode().strip())
            return EXIT_OK
    except urllib.error.HTTPError as exc:
        print(exc.read().decode().strip(), file=sys.stderr)
        return EXIT_DOWN
    except OSError as exc:
        hint = ""
        if tls and web.context.verify_mode == ssl.CERT_REQUIRED and not args.client_cert:
            hint = (" (web_config verlangt ein Client-Zertifikat: --client-cert und --client-key angeben, ein von "
                    "client_ca_file ausgestelltes Zertifikat)")
        print(f"Daemon unter {host}:{port} nicht erreichbar: {exc}{hint}", file=sys.stderr)
        return EXIT_DOWN


def cmd_schema(args: argparse.Namespace) -> int:
    from monitor.config.schema import json_schema

    json.dump(json_schema(args.kinds), sys.stdout, indent=2, ensure_ascii=False)
    print()
    return EXIT_OK


def _period(args: argparse.Namespace) -> Period:
    """The report period from --year, --quarter, --month or --from/--to (one of them)."""
    given = [name for name, value in (("--year", args.year), ("--quarter", args.quarter), ("--month", args.month),
                                      ("--from/--to", args.from_day or args.to_day)) if value]
    if len(given) > 1:
        raise PeriodError(f"{' und '.join(given)} zugleich angegeben: nur eine Angabe des Zeitraums verwenden")
    if args.quarter:
        return Period.of_quarter(args.quarter)
    if args.month:
        return Period.of_month(args.month)
    if args.from_day or args.to_day:
        if not (args.from_day and args.to_day):
            raise PeriodError("--from und --to gehören zusammen: beide Tage angeben (z. B. --from 2026-01-01 "
                              "--to 2026-03-31)")
        return Period.of_days(args.from_day, args.to_day)
    return Period.of_year(args.year or datetime.now().year)


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
    try:
        period = _period(args)
    except PeriodError as exc:
        print(f"Fehler: {exc}", file=sys.stderr)
        return EXIT_USAGE
    store = Store.open(config.store_url, config.kinds, tz=config.settings.tz)
    steps = list(report.STEPS if not args.no_pdf else report.STEPS[:-1])
    with Progress(TextColumn("[bold]Bericht {task.fields[step]}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), disable=args.quiet, transient=False) as progress:
        task = progress.add_task("report", total=len(steps), step="")

        def step(name: str) -> None:
            progress.update(task, advance=0 if name == steps[0] else 1, step=name)

        try:
            files = report.build(store, config, period, args.out, services=wanted, pdf=not args.no_pdf, step=step)
        finally:
            store.close()
        progress.update(task, completed=len(steps), step="fertig")
    print(f"Bericht {period.label} geschrieben:")
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
    store = Store.open(config.store_url, config.kinds, tz=config.settings.tz)
    try:
        n = store.import_satisfaction(figures)
    finally:
        store.close()
    print(f"{n} Zufriedenheitswerte importiert aus {args.file}.")
    return EXIT_OK


def cmd_reference(args: argparse.Namespace) -> int:
    from monitor.config.schema import reference_markdown

    print(reference_markdown(args.kinds))
    return EXIT_OK


def build_parser(kinds: Kinds) -> argparse.ArgumentParser:
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
    p.add_argument("--queues", default=None,
                   help="Warteschlangen, kommagetrennt: http (Verfügbarkeit, Sicherheit), browser "
                        "(Barrierefreiheit, DSGVO); Standard: http,browser (mit --location: http)")
    p.add_argument("--location", default=os.environ.get("EGOV_WORKER_LOCATION") or None,
                   help="Standort dieses Workers (ein Eintrag mit `worker: true` unter settings.yaml `locations:`): "
                        "er übernimmt nur die Prüfungen von diesem Standort aus, aus seinem Netz")
    p.add_argument("--listen", default=os.environ.get("EGOV_WORKER_LISTEN", "127.0.0.1:9470"),
                   help="host:port für /metrics und /healthz dieses Workers (Standard: %(default)s; leer: keiner)")
    p.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.set_defaults(func=cmd_worker)
    p = with_config(sub.add_parser("check", help="Dienste jetzt prüfen und Ergebnis anzeigen"))
    p.add_argument("services", nargs="*", metavar="SERVICE", help="Dienst-IDs (Standard: alle)")
    p.add_argument("--kind", choices=kinds.names(), help="nur diese Prüfart")
    p.add_argument("--json", action="store_true", help="Ergebnis als JSON ausgeben")
    p.add_argument("--store", action="store_true", help="Ergebnis zusätzlich im Speicher ablegen")
    p.add_argument("--anhaenge", type=Path, metavar="VERZEICHNIS",
                   help="Anhänge der Ergebnisse (Bildschirmfotos gescheiterter Schritte) dort speichern")
    p.set_defaults(func=cmd_check)
    p = with_config(sub.add_parser("results", help="letzte gespeicherte Ergebnisse mit Befunden anzeigen"))
    p.add_argument("services", nargs="*", metavar="SERVICE", help="Dienst-IDs (Standard: alle)")
    p.add_argument("--kind", choices=kinds.names(), help="nur diese Prüfart")
    p.add_argument("--json", action="store_true", help="Ergebnis als JSON ausgeben")
    p.add_argument("--anhaenge", type=Path, metavar="VERZEICHNIS",
                   help="Anhänge der Ergebnisse (Bildschirmfotos gescheiterter Schritte) dort speichern")
    p.set_defaults(func=cmd_results)
    with_config(sub.add_parser("validate", help="Katalog und Einstellungen prüfen")).set_defaults(func=cmd_validate)
    p = with_config(sub.add_parser("reload", help="laufenden Daemon die Konfiguration neu laden lassen"))
    p.add_argument("--client-cert", type=Path, metavar="PEM", help=(
        "Client-Zertifikat, wenn web_config eines verlangt (client_auth_type RequireAndVerifyClientCert)"))
    p.add_argument("--client-key", type=Path, metavar="PEM", help="Schlüssel zu --client-cert")
    p.set_defaults(func=cmd_reload)
    p = with_config(sub.add_parser("report", help="Jahresbericht (HTML, PDF, CSV, JSON) schreiben, auch für "
                                                  "ein Quartal, einen Monat oder einen Zeitraum"))
    p.add_argument("--year", type=int, help="Berichtsjahr (Standard: laufendes Jahr)")
    p.add_argument("--quarter", metavar="JJJJQn", help="ein Quartal, z. B. 2026Q1")
    p.add_argument("--month", metavar="JJJJ-MM", help="ein Monat, z. B. 2026-03")
    p.add_argument("--from", dest="from_day", metavar="JJJJ-MM-TT", help="erster Tag eines Zeitraums (mit --to)")
    p.add_argument("--to", dest="to_day", metavar="JJJJ-MM-TT",
                   help="letzter Tag des Zeitraums (eingeschlossen; höchstens ein Kalenderjahr)")
    p.add_argument("--services", nargs="*", metavar="SERVICE", help="nur diese Dienst-IDs (Leerzeichen oder Komma)")
    p.add_argument("--out", type=Path, default=Path("bericht"), help="Zielverzeichnis (Standard: %(default)s)")
    p.add_argument("--no-pdf", action="store_true", help="kein PDF schreiben")
    p.add_argument("--quiet", "-q", action="store_true", help="keinen Fortschrittsbalken zeigen")
    p.set_defaults(func=cmd_report)
    p = with_config(sub.add_parser("import-satisfaction", help="Zufriedenheitswerte aus einer CSV-Datei importieren"))
    p.add_argument("file", type=Path, metavar="DATEI.csv")
    p.set_defaults(func=cmd_import_satisfaction)
    from monitor.incident_cli import add_parsers

    add_parsers(sub, with_config, _load)
    sub.add_parser("schema", help="JSON-Schema des Katalogs ausgeben").set_defaults(func=cmd_schema)
    sub.add_parser("reference", help="Feldreferenz (Markdown) ausgeben").set_defaults(func=cmd_reference)
    return parser


def main(argv: list[str] | None = None, kinds: Kinds | None = None) -> int:
    """The command line. `kinds`: the registry of this process (default: the built-in kinds),
    built here once and handed to every command."""
    kinds = kinds if kinds is not None else builtin()
    args = build_parser(kinds).parse_args(argv)
    args.kinds = kinds
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
