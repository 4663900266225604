"""The result collector: blackbox-compatible names, catalog labels only, unknown never exported as down."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import CollectorRegistry

from checks.result import CheckResult, Reason, State
from monitor.config import load_config
from monitor.metrics import DaemonMetrics, ResultCollector
from monitor.store import Store
from tests.helpers import KINDS
from tests.test_config import GOOD, write_config

URL = "https://portal.example.invalid/"
LOGIN = "https://portal.example.invalid/login"


def make(tmp_path):
    config = load_config(write_config(tmp_path, GOOD), KINDS)
    store = Store.open(f"sqlite:///{tmp_path / 'm.db'}", KINDS)
    registry = CollectorRegistry()
    registry.register(ResultCollector(store, lambda: config))
    return store, registry


def availability(url, state, reason, **evidence) -> CheckResult:
    m = {"duration_seconds": 0.25, "status_code": 200.0 if state is State.UP else 503.0, "phase_resolve_seconds": 0.01,
         "phase_connect_seconds": 0.02, "phase_tls_seconds": 0.03, "phase_processing_seconds": 0.15,
         "phase_transfer_seconds": 0.04, "redirects": 1.0, "ssl": 1.0, "content_length_bytes": 1234.0,
         "http_version": 1.1, "ip_protocol": 4.0, "ssl_earliest_cert_expiry": 1900000000.0}
    return CheckResult("portal", url, "availability", state, reason, datetime.now(UTC), 0.3, m,
                       {"tls": {"version": "TLSv1.3"}, **evidence})


def test_probe_metrics_with_catalog_labels(tmp_path):
    store, registry = make(tmp_path)
    store.record(availability(URL, State.UP, Reason.OK))
    store.record(availability(LOGIN, State.DOWN, Reason.HTTP_STATUS))
    labels = {"service": "portal", "category": "basisdienst", "url": URL}
    assert registry.get_sample_value("probe_success", labels) == 1
    assert registry.get_sample_value("probe_success", {**labels, "url": LOGIN}) == 0
    assert registry.get_sample_value("probe_http_status_code", {**labels, "url": LOGIN}) == 503
    assert registry.get_sample_value("probe_http_duration_seconds", {**labels, "phase": "processing"}) == 0.15
    assert registry.get_sample_value("probe_ssl_earliest_cert_expiry", labels) == 1900000000
    assert registry.get_sample_value("probe_tls_version_info", {**labels, "version": "TLS 1.3"}) == 1
    assert registry.get_sample_value("egov_check_state", {**labels, "kind": "availability", "state": "down"}) == 0
    assert registry.get_sample_value("egov_check_reason_info", {**labels, "url": LOGIN, "kind": "availability",
                                                                "reason": "http_status"}) == 1
    assert registry.get_sample_value("egov_service_availability_target_ratio",
                                     {"service": "portal", "category": "basisdienst"}) == 0.995


def test_unknown_is_not_exported_as_down(tmp_path):
    store, registry = make(tmp_path)
    store.record(availability(URL, State.UNKNOWN, Reason.MONITOR_NETWORK))
    labels = {"service": "portal", "category": "basisdienst", "url": URL}
    assert registry.get_sample_value("probe_success", labels) is None
    assert registry.get_sample_value("egov_check_state", {**labels, "kind": "availability", "state": "unknown"}) == 1


def test_targets_removed_from_the_catalog_are_not_exported(tmp_path):
    store, registry = make(tmp_path)
    store.record(availability("https://gone.example.invalid/", State.UP, Reason.OK))
    assert registry.get_sample_value("probe_success", {"service": "portal", "category": "basisdienst",
                                                       "url": "https://gone.example.invalid/"}) is None


def test_page_content_never_becomes_a_label(tmp_path):
    store, registry = make(tmp_path)
    hostile = '<script>alert(1)</script>"} evil{'
    store.record(availability(URL, State.DOWN, Reason.CONTENT_MISMATCH, detail=hostile, final_url=hostile))
    for family in registry.collect():
        for sample in family.samples:
            assert all(hostile not in v and "<script>" not in v for v in sample.labels.values())


def test_daemon_counters_start_at_zero_and_count_runs():
    registry = CollectorRegistry()
    metrics = DaemonMetrics(registry, KINDS.names())
    assert registry.get_sample_value("egov_check_runs_total", {"kind": "availability", "state": "up"}) == 0
    metrics.observe(availability(URL, State.DOWN, Reason.HTTP_STATUS))
    assert registry.get_sample_value("egov_check_runs_total", {"kind": "availability", "state": "down"}) == 1


def _parsed(text: str) -> dict:
    from prometheus_client.parser import text_string_to_metric_families

    families = {f.name: (f.documentation, f.type) for f in text_string_to_metric_families(text)}
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(text) for s in f.samples}
    return {"families": families, "samples": samples}


def test_the_daemons_incremental_text_equals_the_collector(tmp_path, monkeypatch):
    """The embedded daemon serves ResultText (rendered per target on change, from the
    in-memory latest rows); it must say exactly what ResultCollector says, also after
    results change, a target goes away and the catalog is reloaded."""
    from prometheus_client import generate_latest

    from monitor.metrics import LatestCache, ResultText

    config = load_config(write_config(tmp_path, GOOD), KINDS)
    store = Store.open(f"sqlite:///{tmp_path / 'm.db'}", KINDS)
    current = {"config": config}
    cache = LatestCache(store)
    text = ResultText(cache, lambda: current["config"])
    registry = CollectorRegistry()
    registry.register(ResultCollector(store, lambda: current["config"]))

    def record(result: CheckResult) -> None:
        text.update(cache.committed([(result, None)], store.record_batch([(result, None)])))

    def same() -> dict:
        served, collected = text.text().decode(), generate_latest(registry).decode()
        assert served == collected  # byte for byte: label order and number format too (alerts match on text)
        return _parsed(served)

    record(availability(URL, State.UP, Reason.OK))
    same()  # the first scrape renders what is there
    record(availability(LOGIN, State.DOWN, Reason.HTTP_STATUS))  # rendered as it commits
    first = same()
    assert first["samples"][("probe_success", (("category", "basisdienst"), ("service", "portal"),
                                               ("url", LOGIN)))] == 0
    record(availability(LOGIN, State.UP, Reason.OK))  # changed: rendered again
    assert same()["samples"][("probe_success", (("category", "basisdienst"), ("service", "portal"),
                                                ("url", LOGIN)))] == 1
    # a reload that renames the category relabels every target; a removed URL disappears
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    local = datetime.now(ZoneInfo("Europe/Berlin"))
    window = (f"    maintenance: [{{reason: Jetzt, start: \"{(local - timedelta(hours=1)):%Y-%m-%dT%H:%M}\", "
              f"end: \"{(local + timedelta(hours=1)):%Y-%m-%dT%H:%M}\"}}]\n")
    current["config"] = load_config(write_config(tmp_path, GOOD.replace("category: basisdienst", "category: efa")
                                                 .replace(", https://portal.example.invalid/login", "")
                                                 .replace("    checks:\n", window + "    checks:\n", 1)), KINDS)
    after = same()
    assert all(dict(labels).get("category") != "basisdienst" for _name, labels in after["samples"])
    assert not any(dict(labels).get("url") == LOGIN for _name, labels in after["samples"])
    assert after["samples"][("egov_service_maintenance", (("category", "efa"), ("service", "portal")))] == 1.0
    # a reload that changes nothing of a target: new catalog objects, the same lines, none rendered again
    import monitor.metrics

    rendered = []
    original = monitor.metrics._rendered
    monkeypatch.setattr(monitor.metrics, "_rendered", lambda *a: rendered.append(a) or original(*a))
    current["config"] = load_config(tmp_path / "settings.yaml", KINDS)  # the files written last
    assert same() == after and rendered == []
    record(availability(URL, State.DOWN, Reason.HTTP_STATUS))  # and a result after it is rendered as before
    assert len(rendered) == 1 and same()["samples"][("probe_success", (("category", "efa"), ("service", "portal"),
                                                                        ("url", URL)))] == 0


# The names blackbox_exporter's HTTP prober exports (prober/prober.go, prober/http.go, prober/tls.go):
# dashboards built for it read them, so ours keep its spelling even where our own dashboards do not.
BLACKBOX_NAMES = {
    "probe_success", "probe_duration_seconds", "probe_dns_lookup_time_seconds", "probe_ip_protocol",
    "probe_ip_addr_hash", "probe_http_duration_seconds", "probe_http_content_length",
    "probe_http_uncompressed_body_length", "probe_http_redirects", "probe_http_ssl", "probe_http_status_code",
    "probe_http_version", "probe_failed_due_to_regex", "probe_http_last_modified_timestamp_seconds",
    "probe_ssl_earliest_cert_expiry", "probe_ssl_last_chain_expiry_timestamp_seconds", "probe_ssl_last_chain_info",
    "probe_tls_version_info", "probe_tls_cipher_info",
}


def test_every_family_exported_per_target_earns_its_place():
    """Issue 22: /metrics grows with the catalog, so each family exported per target is read by
    a dashboard panel, a recording or an alerting rule, or is one of blackbox_exporter's names
    (kept as blackbox spells them for the dashboards its users have)."""
    import re
    from pathlib import Path

    from monitor.metrics import COMMON

    deploy = Path(__file__).resolve().parent.parent / "deploy"
    readers = "".join(p.read_text() for p in [*sorted((deploy / "grafana" / "dashboards").glob("*.json")),
                                                *sorted((deploy / "prometheus" / "rules").glob("*.yml"))])
    families = {f.name for kind in KINDS for f in kind.families} | {name for name, *_ in COMMON}
    assert len(families) > 40
    ours_as_blackbox = {name for name in families if name.startswith("probe_")}
    assert ours_as_blackbox <= BLACKBOX_NAMES  # no probe_ name of our own invention
    unread = sorted(name for name in families - BLACKBOX_NAMES if not re.search(rf"\b{name}\b", readers))
    assert unread == [], f"exported per target, read by no dashboard or rule: {unread}"


def test_a_targets_lines_are_written_as_prometheus_client_writes_them_whatever_the_label_values():
    """ResultText renders a target's lines without prometheus_client's Sample objects; the text
    must stay the one prometheus_client writes, also for values to escape and format characters."""
    from prometheus_client.core import GaugeMetricFamily

    from monitor.metrics import _samples, _TargetLines

    labels = ["service", "category", "url", "kind", "phase"]
    values = [["portal", "efa", 'https://x.example/?a="1"&b=%s%d{0}', "availability", "connect"],
              ["p\\2", "line\nbreak", "https://x.example/\\", "availability", "tls"],
              ["p3", "efa", "https://x.example/", "availability", ""]]
    numbers = [0.0, -0.0, 1.0, 404, 999.0, 1000.0, -1.0, 1.5e-7, 12345678901234.0, 1765000000.25, float("nan"),
               float("inf"), float("-inf"), 3]
    ours, theirs = _TargetLines("probe_x", "doc", labels), GaugeMetricFamily("probe_x", "doc", labels=labels)
    for row in values:
        for number in numbers:
            ours.add_metric(row, number)
            theirs.add_metric(row, number)
    assert ours.lines() == _samples(theirs)
    assert ours.lines().count("\n") == len(values) * len(numbers)
