"""Prometheus metrics.

Probe metrics come from a custom collector that reads the newest result of every target
from the store at scrape time: the store stays the one source of truth, and a fleet of
workers writing to one store is exported by one /metrics. The availability metrics keep
blackbox_exporter's names and meaning, so existing dashboards and alert rules work.

Label values are catalog data (service id, category, URL) or fixed enums (state, reason,
phase, TLS version). Nothing a scanned page sends ever becomes a label.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from checks import browser
from checks.accessibility import IMPACTS, MARKERS
from checks.gdpr import MARKERS as GDPR_MARKERS
from checks.httpprobe import PHASES
from checks.result import CheckKind, CheckResult, State
from monitor import __version__
from monitor.config import Config

_TARGET_LABELS = ["service", "category", "url"]
# Versions as blackbox_exporter spells them, so `probe_tls_version_info` matches its dashboards.
_TLS_VERSION_NAMES = {"TLSv1": "TLS 1.0", "TLSv1.1": "TLS 1.1", "TLSv1.2": "TLS 1.2", "TLSv1.3": "TLS 1.3"}


class ResultCollector(Collector):
    """Exports the latest result of every catalog target."""

    def __init__(self, store, config: Callable[[], Config]) -> None:
        self._store = store
        self._config = config

    def describe(self) -> Iterable[Metric]:
        return []  # collected dynamically; skip the registration-time collect

    def collect(self) -> Iterable[Metric]:
        config = self._config()
        services = config.services
        now = datetime.now(UTC)
        g = {name: GaugeMetricFamily(name, doc, labels=_TARGET_LABELS + extra) for name, doc, extra in (
            ("probe_success", "Whether the probe succeeded (1) or failed (0); absent while the result is unknown", []),
            ("probe_duration_seconds", "How long the last probe attempt took in seconds", []),
            ("probe_http_duration_seconds", "Duration of the HTTP request by phase, summed over all redirects", ["phase"]),
            ("probe_dns_lookup_time_seconds", "Time taken for the DNS lookup in seconds", []),
            ("probe_http_status_code", "HTTP status code of the final response, 0 when there was none", []),
            ("probe_http_redirects", "Number of redirects followed", []),
            ("probe_http_ssl", "Whether TLS was used for the final request", []),
            ("probe_http_content_length", "Length of the response body in bytes", []),
            ("probe_http_version", "HTTP version of the final response", []),
            ("probe_ip_protocol", "IP protocol used by the probe (4 or 6)", []),
            ("probe_ssl_earliest_cert_expiry", "Earliest expiry of the certificates in the chain, in unix seconds", []),
            ("probe_tls_version_info", "TLS version used by the final request", ["version"]),
            ("egov_check_state", "Current state of a check target, one series per state (1 = current)", ["kind", "state"]),
            ("egov_check_reason_info", "Reason of the current state of a check target", ["kind", "reason"]),
            ("egov_check_last_run_timestamp_seconds", "When the newest result of a check target started", ["kind"]),
            ("egov_check_state_since_timestamp_seconds", "Since when a check target has been in its current state", ["kind"]),
            ("egov_check_interval_seconds", "Configured interval of a check target, for staleness alerts", ["kind"]),
            ("egov_security_score", "Security header score (HTTP Observatory algorithm; 100 plus bonuses)", []),
            ("egov_security_grade_info", "Security header grade (A+ to F) and the scoring algorithm version",
             ["grade", "algorithm_version"]),
            ("egov_security_test_passed", "Whether a security header test passed (1) or failed (0)", ["test"]),
            ("egov_security_findings", "Open security findings by severity", ["severity"]),
            ("egov_security_txt_valid", "Whether /.well-known/security.txt is valid (RFC 9116)", []),
            ("egov_tls_version_accepted", "Whether the server accepts a TLS protocol version", ["version"]),
            ("egov_tls_forward_secrecy", "Whether only forward-secret key exchange is accepted", []),
            ("egov_tls_compliant", "Whether the TLS configuration meets BSI TR-02102-2", []),
            ("egov_tls_certificate_expiry_timestamp_seconds", "When the server certificate expires, in unix seconds", []),
            ("egov_accessibility_violations", "Elements violating axe rules, summed over the scanned pages, by impact",
             ["impact"]),
            ("egov_accessibility_rules_violated", "Distinct axe rules violated on any scanned page, by impact", ["impact"]),
            ("egov_accessibility_pages_scanned", "Pages axe-core ran on in the last scan", []),
            ("egov_accessibility_pages_failed", "Pages that could not be scanned (timeout, error status, browser)", []),
            ("egov_accessibility_pages_with_serious_violations", "Scanned pages with a critical or serious violation", []),
            ("egov_accessibility_incomplete_rules", "Distinct rules axe could not decide (needs review)", []),
            ("egov_accessibility_score", "Weighted accessibility score 0-100 for trends (see README)", []),
            ("egov_bitv_marker_passed", "Whether a BITV 2.0 marker passed (1) or failed (0); absent if not determinable",
             ["marker"]),
            ("egov_accessibility_axe_info", "axe-core version of the last scan", ["axe_version"]),
            ("egov_gdpr_pages_scanned", "Pages recorded in a fresh browser in the last DSGVO scan", []),
            ("egov_gdpr_pages_failed", "Pages the last DSGVO scan could not record (timeout, error status, browser)", []),
            ("egov_gdpr_requests", "Network requests the service's pages made, by consent state", ["consent"]),
            ("egov_gdpr_third_party_hosts", "Distinct third-party hosts contacted, by consent state", ["consent"]),
            ("egov_gdpr_trackers", "Distinct tracker hosts (config/trackers.yaml) contacted, by consent state",
             ["consent"]),
            ("egov_gdpr_third_party_cookies", "Distinct third-party cookies stored, by consent state", ["consent"]),
            ("egov_gdpr_nonessential_cookies", "Distinct first-party cookies not on the necessary list, by consent state",
             ["consent"]),
            ("egov_gdpr_storage_keys", "Local and session storage keys not on the necessary list, by consent state",
             ["consent"]),
            ("egov_gdpr_marker_passed", "Whether a DSGVO marker passed (1) or failed (0); absent if not determinable",
             ["marker"]),
        )}
        service_gauges = {
            "egov_service_info": GaugeMetricFamily(
                "egov_service_info", "Name and operator of a catalog service (catalog data, for dashboards and alerts)",
                labels=["service", "category", "name", "operator"]),
            "egov_service_availability_target_ratio": GaugeMetricFamily(
                "egov_service_availability_target_ratio", "Availability target of the service as a ratio",
                labels=["service", "category"]),
            "egov_service_maintenance": GaugeMetricFamily(
                "egov_service_maintenance", "Whether a declared maintenance window is active now",
                labels=["service", "category"]),
        }
        for svc in services.values():
            labels = [svc.id, svc.service.category]
            service_gauges["egov_service_info"].add_metric(labels + [svc.service.name, svc.service.operator], 1.0)
            service_gauges["egov_service_availability_target_ratio"].add_metric(labels, svc.service.availability_target / 100)
            active = any(w.active_at(now, config.settings.tz) for w in svc.service.maintenance)
            service_gauges["egov_service_maintenance"].add_metric(labels, 1.0 if active else 0.0)

        for item in self._store.latest():
            result: CheckResult = item.result
            svc = services.get(result.service_id)
            if svc is None or result.url not in svc.urls or result.kind not in svc.checks:
                continue  # removed from the catalog since: not exported any more
            base = [svc.id, svc.service.category, result.url]
            kind = result.kind.value
            for state in State:
                g["egov_check_state"].add_metric(base + [kind, state.value], 1.0 if result.state is state else 0.0)
            g["egov_check_reason_info"].add_metric(base + [kind, result.reason.value], 1.0)
            g["egov_check_last_run_timestamp_seconds"].add_metric(base + [kind], result.started_at.timestamp())
            g["egov_check_state_since_timestamp_seconds"].add_metric(base + [kind], item.since.timestamp())
            g["egov_check_interval_seconds"].add_metric(base + [kind], svc.checks[result.kind].interval)
            if result.kind is CheckKind.AVAILABILITY:
                _availability(g, base, result)
            elif result.kind is CheckKind.SECURITY:
                _security(g, base, result)
            elif result.kind is CheckKind.ACCESSIBILITY:
                _accessibility(g, base, result)
            elif result.kind is CheckKind.GDPR:
                _gdpr(g, base, result)
        yield from g.values()
        yield from service_gauges.values()


def _availability(g: dict[str, GaugeMetricFamily], base: list[str], result: CheckResult) -> None:
    m = result.measurements
    if result.state is not State.UNKNOWN:
        g["probe_success"].add_metric(base, 1.0 if result.ok else 0.0)
    g["probe_duration_seconds"].add_metric(base, m.get("duration_seconds", result.duration_seconds))
    for phase in PHASES:
        g["probe_http_duration_seconds"].add_metric(base + [phase], m.get(f"phase_{phase}_seconds", 0.0))
    g["probe_dns_lookup_time_seconds"].add_metric(base, m.get("phase_resolve_seconds", 0.0))
    g["probe_http_status_code"].add_metric(base, m.get("status_code", 0.0))
    g["probe_http_redirects"].add_metric(base, m.get("redirects", 0.0))
    g["probe_http_ssl"].add_metric(base, m.get("ssl", 0.0))
    g["probe_http_content_length"].add_metric(base, m.get("content_length_bytes", 0.0))
    g["probe_http_version"].add_metric(base, m.get("http_version", 0.0))
    g["probe_ip_protocol"].add_metric(base, m.get("ip_protocol", 0.0))
    if "ssl_earliest_cert_expiry" in m:
        g["probe_ssl_earliest_cert_expiry"].add_metric(base, m["ssl_earliest_cert_expiry"])
    tls = result.evidence.get("tls")
    if tls and tls.get("version") in _TLS_VERSION_NAMES:
        g["probe_tls_version_info"].add_metric(base + [_TLS_VERSION_NAMES[tls["version"]]], 1.0)


_TLS_MEASUREMENTS = {"TLSv1": "tls_accepts_tlsv1", "TLSv1.1": "tls_accepts_tlsv1_1", "TLSv1.2": "tls_accepts_tlsv1_2",
                     "TLSv1.3": "tls_accepts_tlsv1_3"}


def _security(g: dict[str, GaugeMetricFamily], base: list[str], result: CheckResult) -> None:
    # Only fixed vocabularies become labels: grades, test names, severities, versions.
    m = result.measurements
    obs = result.evidence.get("observatory")
    if obs:
        g["egov_security_score"].add_metric(base, float(obs["score"]))
        g["egov_security_grade_info"].add_metric(base + [obs["grade"], str(obs["algorithm_version"])], 1.0)
        for test, outcome in obs["tests"].items():
            g["egov_security_test_passed"].add_metric(base + [test], 1.0 if outcome["pass"] else 0.0)
        for test, outcome in obs.get("extra", {}).items():
            g["egov_security_test_passed"].add_metric(base + [test], 1.0 if outcome["pass"] else 0.0)
        for severity in ("critical", "warning", "notice"):
            g["egov_security_findings"].add_metric(base + [severity], m.get(f"findings_{severity}", 0.0))
    if "security_txt_valid" in m:
        g["egov_security_txt_valid"].add_metric(base, m["security_txt_valid"])
        g["egov_security_test_passed"].add_metric(base + ["security-txt"], m["security_txt_valid"])
    for version, key in _TLS_MEASUREMENTS.items():
        if key in m:
            g["egov_tls_version_accepted"].add_metric(base + [_TLS_VERSION_NAMES[version]], m[key])
    if "tls_forward_secrecy" in m:
        g["egov_tls_forward_secrecy"].add_metric(base, m["tls_forward_secrecy"])
    if "tls_compliant" in m:
        g["egov_tls_compliant"].add_metric(base, m["tls_compliant"])
    if "tls_cert_expiry_timestamp" in m:
        g["egov_tls_certificate_expiry_timestamp_seconds"].add_metric(base, m["tls_cert_expiry_timestamp"])


def _accessibility(g: dict[str, GaugeMetricFamily], base: list[str], result: CheckResult) -> None:
    # Labels are fixed vocabularies only (impact, marker name); rule help texts and
    # selectors stay in the stored evidence.
    m = result.measurements
    if "pages_scanned" not in m:
        return
    for impact in IMPACTS:
        g["egov_accessibility_violations"].add_metric(base + [impact], m.get(f"violations_{impact}", 0.0))
        g["egov_accessibility_rules_violated"].add_metric(base + [impact], m.get(f"rules_{impact}", 0.0))
    g["egov_accessibility_pages_scanned"].add_metric(base, m["pages_scanned"])
    g["egov_accessibility_pages_failed"].add_metric(base, m.get("pages_failed", 0.0))
    g["egov_accessibility_pages_with_serious_violations"].add_metric(base, m.get("pages_with_serious", 0.0))
    g["egov_accessibility_incomplete_rules"].add_metric(base, m.get("incomplete", 0.0))
    if "score" in m:
        g["egov_accessibility_score"].add_metric(base, m["score"])
    for marker in MARKERS:
        if f"marker_{marker}" in m:
            g["egov_bitv_marker_passed"].add_metric(base + [marker], m[f"marker_{marker}"])
    version = str(result.evidence.get("axe_version", ""))
    if version.replace(".", "").isdigit():
        g["egov_accessibility_axe_info"].add_metric(base + [version], 1.0)


_GDPR_COUNTS = ("requests", "third_party_hosts", "trackers", "third_party_cookies", "nonessential_cookies",
                "storage_keys")


def _gdpr(g: dict[str, GaugeMetricFamily], base: list[str], result: CheckResult) -> None:
    # Host names, cookie names and URLs stay in the stored evidence: a label is never page data.
    m = result.measurements
    if "pages_scanned" not in m:
        return
    g["egov_gdpr_pages_scanned"].add_metric(base, m["pages_scanned"])
    g["egov_gdpr_pages_failed"].add_metric(base, m.get("pages_failed", 0.0))
    for name in _GDPR_COUNTS:
        for consent, key in (("before", name), ("after", f"after_{name}")):
            if key in m:
                g[f"egov_gdpr_{name}"].add_metric(base + [consent], m[key])
    for marker in GDPR_MARKERS:
        if f"marker_{marker}" in m:
            g["egov_gdpr_marker_passed"].add_metric(base + [marker], m[f"marker_{marker}"])


class BrowserPoolCollector(Collector):
    """Health of this process's browser pool: sessions started, recycled, killed, pages."""

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        pool = browser.current_pool()
        stats = pool.stats if pool is not None else browser.PoolStats()
        for name, doc, value in (
            ("egov_browser_sessions_started", "Browser sessions started", stats.started),
            ("egov_browser_sessions_recycled", "Browser sessions retired after their page quota or a reload",
             stats.recycled),
            ("egov_browser_sessions_killed", "Browser sessions killed by the watchdog or after an error", stats.killed),
            ("egov_browser_session_start_failures", "Browser sessions that could not be started", stats.start_failures),
            ("egov_browser_pages", "Pages handed to browser sessions", stats.pages),
        ):
            family = CounterMetricFamily(name, doc)
            family.add_metric([], float(value))
            yield family
        live = GaugeMetricFamily("egov_browser_sessions", "Browser sessions alive now (idle or in use)")
        live.add_metric([], float(pool.live_sessions() if pool is not None else 0))
        yield live


class CheckRunMetrics:
    """What every process that runs checks exports: runs by state, internal errors."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.runs = Counter("egov_check_runs", "Check runs finished, by kind and resulting state",
                            ["kind", "state"], registry=registry)
        self.errors = Counter("egov_check_errors", "Internal errors while running, storing or scheduling a check",
                              ["kind", "stage"], registry=registry)
        Info("egov_build", "Version of egov-monitor", registry=registry).info({"version": __version__})
        for kind in CheckKind:
            self.runs.labels(kind.value, "up")  # export zeros from the start so rate() works at once
            self.errors.labels(kind.value, "check")
            self.errors.labels(kind.value, "store")

    def observe(self, result: CheckResult) -> None:
        if result.service_id.startswith("_"):
            return
        self.runs.labels(result.kind.value, result.state.value).inc()

    def error(self, kind: str, stage: str) -> None:
        self.errors.labels(kind, stage).inc()


class _OptionalGauge(Collector):
    """A gauge that is absent until it is first set (an unset 0 would look like an ancient timestamp)."""

    def __init__(self, name: str, doc: str, registry: CollectorRegistry) -> None:
        self.name, self.doc, self.value = name, doc, None
        registry.register(self)

    def set(self, value: float | None) -> None:
        self.value = value

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        if self.value is not None:
            family = GaugeMetricFamily(self.name, self.doc)
            family.add_metric([], self.value)
            yield family


class DaemonMetrics(CheckRunMetrics):
    """The daemon's (or scheduler's) own health, in its own registry (never the global one)."""

    def __init__(self, registry: CollectorRegistry, *, scheduler: bool = False) -> None:
        super().__init__(registry)
        self.missed = Counter("egov_scheduler_missed_runs", "Scheduled runs skipped because the previous one "
                              "was still running or the run was too late", ["kind"], registry=registry)
        self.lag = Histogram("egov_scheduler_lag_seconds", "Delay between a run's scheduled time and its start",
                             ["kind"], registry=registry, buckets=(0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 300))
        self.heartbeat = _OptionalGauge("egov_monitor_heartbeat_timestamp_seconds",
                                        "Last heartbeat the daemon wrote to the store", registry)
        self.reload_ok = Gauge("egov_config_last_reload_successful", "Whether the last configuration (re)load succeeded",
                               registry=registry)
        self.reload_ts = Gauge("egov_config_last_reload_success_timestamp_seconds",
                               "When the configuration was last loaded successfully", registry=registry)
        self.targets = Gauge("egov_scheduled_targets", "Check targets currently scheduled", ["kind"], registry=registry)
        self.network = Gauge("egov_monitor_network_up", "Whether the last canary round found the monitor's network "
                             "working (1), failing (0); absent without canaries", registry=registry)
        self.canary = Gauge("egov_canary_up", "Whether a canary answered in the last round", ["url"], registry=registry)
        self.canary_ts = Gauge("egov_canary_last_round_timestamp_seconds", "When the last canary round started",
                               registry=registry)
        for kind in CheckKind:
            self.missed.labels(kind.value)
        if scheduler:
            self.leader = Gauge("egov_scheduler_leader", "Whether this scheduler holds the scheduling lease (1) "
                                "or stands by (0)", registry=registry)
            self.enqueued = Counter("egov_scheduler_enqueued", "Check jobs put on the task queue, by kind", ["kind"],
                                    registry=registry)
            self.queue_messages = Gauge("egov_queue_messages", "Messages waiting in the task queue (incl. retries)",
                                        ["queue"], registry=registry)
            for kind in CheckKind:
                self.enqueued.labels(kind.value)
                self.errors.labels(kind.value, "enqueue")

    def canary_round(self, verdict) -> None:
        self.network.set(1.0 if verdict.network_ok else 0.0)
        self.canary_ts.set(verdict.checked_at)
        for r in verdict.results:
            self.canary.labels(r.url).set(1.0 if r.ok else 0.0)

    def beat(self) -> None:
        self.heartbeat.set(time.time())


class WorkerMetrics(CheckRunMetrics):
    """A worker's own health: what it ran, how long jobs waited, what it skipped."""

    def __init__(self, registry: CollectorRegistry, queues: Iterable[str]) -> None:
        super().__init__(registry)
        self.in_progress = Gauge("egov_worker_jobs_in_progress", "Check jobs running now", ["queue"], registry=registry)
        self.wait = Histogram("egov_queue_wait_seconds", "Delay between a job's scheduled time and its start on a worker",
                              ["kind"], registry=registry, buckets=(0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 900))
        self.skipped = Counter("egov_worker_jobs_skipped", "Jobs not run: already stored (delivered twice) or invalid",
                               ["reason"], registry=registry)
        for queue in queues:
            self.in_progress.labels(queue)
        for reason in ("already_stored", "invalid"):
            self.skipped.labels(reason)
