"""A synthetic year for the report benchmark and tests: a catalog of N services and their results.

Availability every minute, security hourly, accessibility and DSGVO daily, as the daemon
would store them: rollups and timeline for everything, raw rows for the retention window
and for every state change. Deterministic for a seed. Outages (about five a year per
service), weekly maintenance for every fifth service, services added mid-year, two monitor
outages and one monitor-network incident make the arithmetic non-trivial.

    python -m bench.synthetic_year --services 300 --year 2026 --out /tmp/year
"""

from __future__ import annotations

import argparse
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from checks.result import CheckResult, Reason, State
from monitor.config import load_config
from monitor.report.timeline import month_bounds
from monitor.rollup import STATE_CODE, STATES
from monitor.store import Store, heartbeats

SHIPPED = ("availability", "security", "accessibility", "gdpr", "journey", "ai_act")  # the kinds this year has


def _records(config, kind: str) -> tuple:
    """The kind's store hooks where the configuration carries the registry (the previous
    version under test_previous_version has none: its retention defaults sit in the settings)."""
    kinds = getattr(config, "kinds", None)
    return (kinds.records(kind),) if kinds is not None else ()

TZ = ZoneInfo("Europe/Berlin")
GRADES = ("A+", "A", "A-", "B+", "B", "B-", "C", "D", "F")
RULES = (("color-contrast", "serious"), ("image-alt", "critical"), ("label", "critical"), ("link-name", "serious"),
         ("heading-order", "moderate"), ("region", "moderate"), ("list", "minor"), ("html-has-lang", "serious"))
OUTAGE_REASONS = ("connect_timeout", "http_status", "read_timeout", "tls_error", "connect_refused")


def catalog_yaml(n: int) -> str:
    out = ["services:"]
    for i in range(n):
        category = "basisdienst" if i % 7 == 0 else "efa" if i % 3 == 0 else "kommune"
        target = (99.9, 99.5, 99.0)[i % 3]
        maint = ("\n    maintenance:\n      - {reason: Wartung, every: week, days: [sun], at: \"02:00\", duration: 2h}"
                 if i % 5 == 0 else "")
        out.append(textwrap.indent(textwrap.dedent(f"""\
            - id: dienst-{i:03d}
              name: Dienst {i:03d}
              category: {category}
              operator: Betreiber {i % 17}
              contact: betrieb@example.invalid
              urls: ["https://dienst-{i:03d}.example/"]
              availability_target: {target}
              checks:
                availability: {{interval: 60s, timeout: 10s}}
                security: {{interval: 1h}}
                accessibility: {{interval: 1d}}
                gdpr: {{interval: 1d}}"""), "  ") + maint)
    return "\n".join(out) + "\n"


def write_config(directory: Path, n: int) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "catalog.yaml").write_text(catalog_yaml(n))
    settings = directory / "settings.yaml"
    settings.write_text(f'catalog: [catalog.yaml]\nstore: {{url: "sqlite:///{directory / "store.db"}"}}\n')
    return settings


def _availability_result(sid: str, url: str, t: float, state: str, reason: str, latency: float,
                         maintenance: bool) -> CheckResult:
    ok = state in ("up", "degraded")
    at = datetime.fromtimestamp(t, UTC)
    measurements = {"phase_resolve_seconds": 0.0004, "phase_connect_seconds": round(latency * 0.1, 6),
                    "phase_tls_seconds": round(latency * 0.3, 6), "phase_processing_seconds": round(latency * 0.5, 6),
                    "phase_transfer_seconds": round(latency * 0.1, 6), "duration_seconds": round(latency, 6),
                    "status_code": 200.0 if ok else 503.0, "redirects": 0.0, "content_length_bytes": 48213.0,
                    "http_version": "HTTP/1.1", "ssl": 1.0, "ip_protocol": 4.0}
    evidence = {"detail": "HTTP 200" if ok else f"{reason}", "final_url": url,
                "attempts": [{"at": at.isoformat(), "state": state, "reason": reason, "detail": "",
                              "status_code": 200 if ok else 503, "duration_seconds": round(latency, 6)}],
                "ip": "192.0.2.10", "tls": {"version": "TLSv1.3", "cipher": "TLS_AES_256_GCM_SHA384"}}
    if maintenance:
        evidence["in_maintenance"] = True
    return CheckResult(sid, url, "availability", State(state), Reason(reason), at, latency, measurements, evidence)


def _spans_mask(times: np.ndarray, spans: list[tuple[float, float]]) -> np.ndarray:
    mask = np.zeros(len(times), dtype=bool)
    for s, e in spans:
        lo, hi = np.searchsorted(times, s), np.searchsorted(times, e)
        mask[lo:hi] = True
    return mask


def generate(store: Store, config, year: int, until: datetime, seed: int = 2026,
             retention: dict[str, int] | None = None, progress=None) -> dict[str, float]:
    """Write the year into `store`. Returns counts: results per kind and raw rows written."""
    rng = np.random.default_rng(seed)
    start = month_bounds(year, TZ)[0]
    end = until.timestamp()
    retention = retention or {k: config.settings.store.retention_days(k, *_records(config, k)) for k in SHIPPED}
    # the monitor itself: two outages (3 h in March, 25 min in September)
    gaps = [(datetime(year, 3, 14, 1, tzinfo=TZ).timestamp(), datetime(year, 3, 14, 4, tzinfo=TZ).timestamp()),
            (datetime(year, 9, 2, 10, tzinfo=TZ).timestamp(), datetime(year, 9, 2, 10, 25, tzinfo=TZ).timestamp())]
    runs = [(start, gaps[0][0]), (gaps[0][1], gaps[1][0]), (gaps[1][1], end)]
    with store.engine.begin() as conn:
        for i, (s, e) in enumerate(runs):
            conn.execute(heartbeats.insert().values(run_id=f"synthetic-{i}", hostname="synthetic", pid=1,
                                                    version="synthetic", started_at=s, last_beat_at=e,
                                                    stopped_at=e if i < len(runs) - 1 else None))
    network_incident = (datetime(year, 6, 5, 9, tzinfo=TZ).timestamp(), datetime(year, 6, 5, 9, 40, tzinfo=TZ).timestamp())
    counts = dict.fromkeys(SHIPPED, 0) | {"raw": 0}
    services = list(config.services.values())
    for n, svc in enumerate(services):
        sid, url = svc.id, svc.urls[0]
        first = start if n % 10 else datetime(year, 7, 1, tzinfo=TZ).timestamp()  # every 10th added in July
        # ---- availability, every minute
        t = np.arange(first, end, 60.0)
        t = t[~_spans_mask(t, gaps)]
        states = np.zeros(len(t), dtype=np.int64)
        reasons_code = np.zeros(len(t), dtype=np.int64)
        for _ in range(rng.poisson(5)):
            begin = rng.integers(0, len(t))
            length = int(max(2, rng.lognormal(np.log(12), 1.0)))
            states[begin:begin + length] = STATE_CODE["down"]
            reasons_code[begin:begin + length] = 1 + rng.integers(0, len(OUTAGE_REASONS))
        slow = rng.random(len(t)) < 0.002
        states[(states == 0) & slow] = STATE_CODE["degraded"]
        net = _spans_mask(t, [network_incident])
        states[net] = STATE_CODE["unknown"]
        latency = rng.lognormal(np.log(0.15), 0.35, len(t))
        latency[states >= STATE_CODE["down"]] = np.nan
        maint = np.zeros(len(t), dtype=bool)
        spans = [(s.timestamp(), e.timestamp()) for w in svc.service.maintenance
                 for s, e in w.intervals(datetime.fromtimestamp(first, UTC), until, TZ)]
        maint = _spans_mask(t, spans)
        reason_names = ["ok", *OUTAGE_REASONS]
        reasons = [reason_names[c] if s == STATE_CODE["down"] else "monitor_network" if s == STATE_CODE["unknown"]
                   else "slow" if s == STATE_CODE["degraded"] else "ok" for s, c in
                   zip(states.tolist(), reasons_code.tolist(), strict=True)]

        def make_availability(i: int, t=t, states=states, reasons=reasons, latency=latency, maint=maint,
                              sid=sid, url=url) -> CheckResult:
            lat = 0.0 if np.isnan(latency[i]) else float(latency[i])
            return _availability_result(sid, url, float(t[i]), STATES[int(states[i])], reasons[i], lat, bool(maint[i]))

        counts["raw"] += store.ingest_series(sid, "availability", url, t, states, reasons, latency, maint,
                                             make_availability, raw_since=end - retention["availability"] * 86400)
        counts["availability"] += len(t)
        # ---- security, hourly; the grade changes by quarter
        ts = np.arange(first + 600, end, 3600.0)
        ts = ts[~_spans_mask(ts, gaps)]
        base = int(rng.integers(0, 6))
        q_of = np.array([(datetime.fromtimestamp(x, TZ).month - 1) // 3 for x in ts[::24]]).repeat(24)[:len(ts)]
        grade_idx = np.clip(base - q_of * (n % 2), 0, len(GRADES) - 1)
        digests, measurements, sec_states = [], [], []
        for g in grade_idx.tolist():
            grade = GRADES[g]
            ok = g <= 4
            digests.append({"grade": grade, "score": 100 - 10 * g, "tls": n % 11 != 0, "security_txt": n % 4 != 0,
                            "findings": [] if ok else [{"id": "csp-not-implemented", "severity": "warning",
                                                        "message": "Content-Security-Policy fehlt"}], "detail": ""})
            measurements.append({"score": float(100 - 10 * g), "grade_rank": float(12 - g), "tls_compliant":
                                 1.0 if n % 11 else 0.0, "security_txt_valid": 1.0 if n % 4 else 0.0})
            sec_states.append(STATE_CODE["up" if ok else "down"])
        sec_states_a = np.array(sec_states, dtype=np.int64)

        def make_security(i: int, ts=ts, digests=digests, measurements=measurements, sec=sec_states_a,
                          sid=sid, url=url) -> CheckResult:
            state = STATES[int(sec[i])]
            return CheckResult(sid, url, "security", State(state), Reason.OK if state == "up" else Reason.NONCOMPLIANT,
                               datetime.fromtimestamp(float(ts[i]), UTC), 1.2, measurements[i],
                               {"observatory": {"grade": digests[i]["grade"], "score": digests[i]["score"]},
                                "findings": digests[i]["findings"], "detail": f"Note {digests[i]['grade']}"})

        counts["raw"] += store.ingest_series(sid, "security", url, ts, sec_states_a,
                                             ["ok" if s == 0 else "noncompliant" for s in sec_states], np.full(len(ts), np.nan),
                                             np.zeros(len(ts), dtype=bool), make_security,
                                             raw_since=end - retention["security"] * 86400,
                                             measurements=measurements, digests=digests)
        counts["security"] += len(ts)
        # ---- accessibility and DSGVO, daily
        td = np.arange(first + 3 * 3600, end, 86400.0)
        td = td[~_spans_mask(td, gaps)]
        a_dig, a_meas, a_states, g_dig, g_meas, g_states = [], [], [], [], [], []
        for day_i in range(len(td)):
            quarter = (datetime.fromtimestamp(float(td[day_i]), TZ).month - 1) // 3
            k = max(0, (n % 6) - quarter)
            rules = {r: {"impact": imp, "nodes": 3 + j, "help": r} for j, (r, imp) in enumerate(RULES[:k])}
            by = {imp: sum(1 for r in rules.values() if r["impact"] == imp) for imp in ("critical", "serious",
                                                                                        "moderate", "minor")}
            a_dig.append({"rules": rules, "markers": {"statement_linked": "pass" if n % 3 else "fail",
                                                      "html_lang": "pass", "easy_language": "pass" if n % 2 else "fail"},
                          "pages": [{"url": url + "antrag", "title": f"Antrag {n}", "serious_nodes": 7}] if k else []})
            a_meas.append({"pages_scanned": 5.0, "rules_violated": float(k), **{f"rules_{i}": float(v) for i, v in by.items()},
                           **{f"violations_{i}": float(v * 4) for i, v in by.items()}, "score": 100.0 - 7 * k})
            a_states.append(STATE_CODE["down" if by["critical"] + by["serious"] else "up"])
            trackers = 1 if n % 8 == 0 and quarter < 2 else 0
            markers = {"no_trackers": "fail" if trackers else "pass", "impressum_link": "pass",
                       "privacy_link": "fail" if n % 13 == 0 else "pass", "no_google_fonts": "pass"}
            g_dig.append({"markers": markers, "findings": [], "trackers": [{"host": "www.google-analytics.com",
                                                                            "category": "analytics"}] if trackers else []})
            g_meas.append({"pages_scanned": 3.0, "trackers": float(trackers), "third_party_hosts": float(trackers + n % 3),
                           "third_party_cookies": float(trackers), "nonessential_cookies": 0.0, "storage_keys": 0.0})
            g_states.append(STATE_CODE["down" if "fail" in markers.values() else "up"])
        for kind, dig, meas, st in (("accessibility", a_dig, a_meas, a_states), ("gdpr", g_dig, g_meas, g_states)):
            st_a = np.array(st, dtype=np.int64)

            def make(i: int, kind=kind, dig=dig, meas=meas, st_a=st_a, sid=sid, url=url, td=td) -> CheckResult:
                state = STATES[int(st_a[i])]
                pages = [{"url": url, "title": "Startseite", "violations": [
                    {"rule": r, "impact": v["impact"], "nodes": v["nodes"], "help": r, "help_url": "", "targets": []}
                    for r, v in dig[i].get("rules", {}).items()]}]
                evidence = {"pages": pages, "markers": {m: {"state": s} for m, s in dig[i]["markers"].items()}}
                return CheckResult(sid, url, kind, State(state),
                                   Reason.OK if state == "up" else Reason.NONCOMPLIANT,
                                   datetime.fromtimestamp(float(td[i]), UTC), 20.0, meas[i], evidence)

            counts["raw"] += store.ingest_series(sid, kind, url, td, st_a, ["ok" if s == 0 else "noncompliant" for s in st],
                                                 np.full(len(td), np.nan), np.zeros(len(td), dtype=bool), make,
                                                 raw_since=end - retention[kind] * 86400, measurements=meas, digests=dig)
            counts[kind] += len(td)
        if progress is not None:
            progress(n + 1, len(services))
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=300)
    parser.add_argument("--year", type=int, default=2026)
    parser.add_argument("--out", type=Path, default=Path("var/synthetic"))
    args = parser.parse_args()
    settings = write_config(args.out, args.services)
    (args.out / "store.db").unlink(missing_ok=True)
    from monitor.kinds import builtin
    config = load_config(settings, builtin())
    store = Store.open(config.store_url, config.kinds, tz=TZ)
    started = time.monotonic()
    until = datetime(args.year + 1, 1, 1, tzinfo=TZ) - timedelta(seconds=1)
    counts = generate(store, config, args.year, until,
                      progress=lambda i, n: print(f"\r{i}/{n} Dienste", end="", flush=True))
    print(f"\n{counts} in {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
