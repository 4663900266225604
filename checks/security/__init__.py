"""Security check kind: security headers graded like the HTTP Observatory, security.txt
(RFC 9116) and the TLS configuration against BSI TR-02102-2, in one result per URL.

State: `up` when nothing needs fixing, `degraded` when there are warnings (a failed
Observatory test, security.txt missing, certificate expiring soon), `down` when a binding
requirement is not met (grade below the profile's minimum, TLS not compliant) or the site
could not be scanned. Every finding names the header or setting and the value that passes.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any, Literal, TypedDict, cast
from urllib.parse import urlsplit

from pydantic import Field, FilePath

from checks import httpprobe
from checks.context import CheckContext
from checks.httpprobe import FetchOptions
from checks.kind import CheckImplementation, Records, cut
from checks.proxy import Proxy
from checks.result import CheckResult, Reason, State, Target
from checks.security import headers as sh
from checks.security import security_txt, tls
from checks.security.headers.fixes import FIXES, SECURITY_TXT_FIX, TEST_TITLES
from checks.settings import ByteSize, CheckSettings, PositiveDuration

# --------------------------------------------------------------------------- the result's payload
# What a security result carries, keyed once here: the writer below and every reader
# (monitor/kinds/security.py) go through these types, so a misspelt key is a mypy error.


class SecurityMeasurements(TypedDict, total=False):
    duration_seconds: float
    status_code: float
    score: float
    grade_rank: float
    tests_passed: float
    tests_failed: float
    findings_critical: float
    findings_warning: float
    findings_notice: float
    security_txt_valid: float
    tls_accepts_tlsv1: float
    tls_accepts_tlsv1_1: float
    tls_accepts_tlsv1_2: float
    tls_accepts_tlsv1_3: float
    tls_forward_secrecy: float
    tls_compliant: float
    tls_cert_expiry_timestamp: float
    tls_cert_key_bits: float


class Observatory(TypedDict):
    algorithm: str
    algorithm_version: int
    score: int
    grade: str
    tests_passed: int
    tests_failed: int
    tests: dict[str, dict[str, Any]]
    extra: dict[str, dict[str, Any]]


class SecurityEvidence(TypedDict, total=False):
    algorithm: str
    algorithm_version: int
    http_url: str
    https_url: str
    http_error: dict[str, str]
    https_error: dict[str, str]
    detail: str
    final_url: str
    observatory: Observatory
    findings: list[dict[str, Any]]
    security_txt: dict[str, Any]
    tls: dict[str, Any]


def tls_accepts_key(version: str) -> str:
    """The measurement saying whether the server accepts a TLS version (tls_accepts_tlsv1_2, ...)."""
    return f"tls_accepts_{version.lower().replace('.', '_')}"


def measurements_of(result: CheckResult) -> SecurityMeasurements:
    """A security result's measurements, typed."""
    return cast(SecurityMeasurements, result.measurements)


def evidence_of(result: CheckResult) -> SecurityEvidence:
    """A security result's evidence, typed."""
    return cast(SecurityEvidence, result.evidence)


Grade = Literal["A+", "A", "A-", "B+", "B", "B-", "C+", "C", "C-", "D+", "D", "D-", "F"]


# What is wrong and what passes, per Observatory expectation (German, for operators).


class SecuritySettings(CheckSettings):
    """Settings of the security check (headers, security.txt, TLS)."""

    interval: PositiveDuration = Field(6 * 3600.0, description="Time between two runs, e.g. 6h.")
    timeout: PositiveDuration = Field(15.0, description="Upper bound for each step (HTTP, HTTPS, security.txt, TLS).")
    min_grade: Grade = Field("B", description="Observatory grade below this is a compliance failure (state down).")
    http_port: int | None = Field(None, ge=1, le=65535, description="Port of the HTTP site, default 80.")
    https_port: int | None = Field(None, ge=1, le=65535, description="Port of the HTTPS site, default 443.")
    ca_file: FilePath | None = Field(None, description="CA bundle for services with a private CA.")
    security_txt: bool = Field(True, description="Check /.well-known/security.txt (RFC 9116).")
    security_txt_key: FilePath | None = Field(
        None, description="OpenPGP public key (ASCII-armored or binary) of the service; a signed security.txt "
                          "is then verified with it (gpgv), otherwise only the signature's structure is checked.")
    tls: bool = Field(True, description="Scan protocol versions, forward secrecy and certificate (BSI TR-02102-2).")
    certificate_warning_days: int = Field(30, ge=0, le=365, description="Warn this many days before the certificate expires.")
    hsts_preloaded: list[str] = Field(default_factory=list,
                                      description="Names to treat as HSTS-preloaded besides Chromium's bundled list.")
    max_body_bytes: ByteSize = Field(2 * 1024 * 1024, gt=0, description="Only this much of the page is read for <meta> and <script>.")

    def worst_case_seconds(self) -> float:
        return self.timeout * 4


def _finding(area: str, test: str, id: str, severity: str, message: str, fix: str = "", evidence: Any = None,
             title: str | None = None) -> dict[str, Any]:
    """A finding as stored and printed: where, what, how bad, and what passes."""
    return {"area": area, "test": test, "id": id, "severity": severity, "title": title or TEST_TITLES.get(test, test),
            "message": message, "fix": fix, "evidence": evidence}


def _observatory_finding(test: str, result: str, severity: str, evidence: Any = None) -> dict[str, Any]:
    what, fix = FIXES.get(result, (result, ""))
    return _finding("headers", test, result, severity, what, fix, evidence)


def _header_findings(graded: sh.Grade) -> list[dict[str, Any]]:
    out = []
    for name, t in graded.tests.items():
        if t.modifier < 0 or not t.passed:
            ev = None
            if name == "cookies" and t.data:
                ev = t.data.get("problems")
            elif name == "redirection" and t.data:
                ev = t.data.get("route")
            elif name == "subresource-integrity" and t.data:
                ev = list(t.data.get("external_scripts", {}))[:5]
            out.append(_observatory_finding(name, t.result, "warning", ev))
        elif t.result in ("csp-implemented-with-no-unsafe", "referrer-policy-not-implemented",
                          "cookies-secure-with-httponly-sessions"):
            out.append(_observatory_finding(name, t.result, "notice"))
    for name, t in graded.extra.items():
        if not t.passed:
            ev = t.data.get("headers") if isinstance(t.data, dict) else None
            out.append(_observatory_finding(name, t.result, "notice", ev))
    return out


def _tls_part(url: str, settings: SecuritySettings, ca: str | None, evidence: SecurityEvidence,
              proxy: Proxy | None = None,
              host_rules: tuple[tuple[str, str], ...] = ()) -> tuple[list[dict[str, Any]], SecurityMeasurements]:
    """The TLS scan of the HTTPS variant of `url`: its findings and measurements (evidence["tls"] set).
    `host_rules` (browser.hosts): the address the name is reached at; the name stays the SNI."""
    findings: list[dict[str, Any]] = []
    measurements: SecurityMeasurements = {}
    if not settings.tls:
        return findings, measurements
    parts = urlsplit(url)
    name, port = parts.hostname or "", parts.port or 443
    try:
        try:
            host, port = httpprobe.mapped(name, port, host_rules)
        except httpprobe.ProbeError as exc:
            raise tls.TlsUnreachable(exc.detail) from None
        report = tls.scan(host, port, server_name=name, timeout=settings.timeout, ca_file=ca,
                          warn_days=settings.certificate_warning_days, proxy=proxy)
    except tls.TlsUnreachable as exc:
        evidence["tls"] = {"error": str(exc)[:300]}
        measurements["tls_compliant"] = 0.0
        findings.append(_finding("tls", "tls", "tls-unreachable", "critical",
                                 f"Kein HTTPS-Port erreichbar: {str(exc)[:200]}",
                                 "HTTPS mit TLS 1.2/1.3 bereitstellen.", title="TLS"))
    else:
        evidence["tls"] = report.to_dict()
        for version in tls.VERSIONS:
            if report.accepted.get(version) is not None:
                cast(dict[str, float], measurements)[tls_accepts_key(version)] = 1.0 if report.accepted[version] else 0.0
        measurements["tls_forward_secrecy"] = 1.0 if report.forward_secrecy else 0.0
        measurements["tls_compliant"] = 1.0 if report.compliant else 0.0
        if report.certificate is not None:
            measurements["tls_cert_expiry_timestamp"] = report.certificate.not_after.timestamp()
            measurements["tls_cert_key_bits"] = float(report.certificate.key_bits)
        for f in report.findings:
            findings.append(_finding("tls", "tls", f"tls-{f.id}", f.severity, f.message,
                                     title="TLS (BSI TR-02102-2)"))
    return findings, measurements


def run(target: Target, settings: SecuritySettings, ctx: CheckContext | None = None) -> CheckResult:
    started = datetime.now(UTC)
    t0 = time.monotonic()
    # the check's own CA file, else browser.ca_files (with the system's CAs); browser.hosts maps
    # internal names for the fetches and the TLS scan alike, as for the browser and the probes
    ca = str(settings.ca_file) if settings.ca_file else (ctx.ca_bundle if ctx is not None else None)
    host_rules = ctx.host_rules if ctx is not None else ()
    proxy = ctx.proxy if ctx is not None else None  # the process's proxy, as for the availability probes
    options = FetchOptions(timeout=settings.timeout, max_body_bytes=settings.max_body_bytes, ca_file=ca, proxy=proxy,
                           host_rules=host_rules)
    preloaded = frozenset(h.lower() for h in settings.hsts_preloaded) or None
    retrieval, http_s, https_s = sh.retrieve(target.url, options, http_port=settings.http_port,
                                             https_port=settings.https_port, preloaded=preloaded)
    evidence: SecurityEvidence = {"algorithm": sh.ALGORITHM, "algorithm_version": sh.ALGORITHM_VERSION,
                                  "http_url": http_s.url, "https_url": https_s.url}
    if http_s.error is not None:
        evidence["http_error"] = {"reason": http_s.error.reason.value, "detail": http_s.error.detail[:300]}
    if https_s.error is not None:
        evidence["https_error"] = {"reason": https_s.error.reason.value, "detail": https_s.error.detail[:300]}

    def result(state: State, reason: Reason, measurements: SecurityMeasurements) -> CheckResult:
        measurements["duration_seconds"] = time.monotonic() - t0
        return CheckResult(target.service_id, target.url, "security", state, reason, started,
                           measurements["duration_seconds"], cast(dict[str, float], measurements),
                           cast(dict[str, Any], evidence))

    failed = [s.error for s in (https_s, http_s) if s.error is not None and s.error.reason is Reason.PROXY_ERROR]
    if failed:  # the monitor's own network: no verdict on the service
        evidence["detail"] = failed[0].detail[:300]
        return result(State.UNKNOWN, Reason.PROXY_ERROR, {})
    # TLS is judged even when no page could be fetched (a server a browser refuses still has a
    # certificate and suites to report); its findings follow the header findings.
    try:
        tls_findings, tls_measurements = _tls_part(https_s.url, settings, ca, evidence, proxy, host_rules)
    except tls.TlsProxyError as exc:
        evidence["detail"] = str(exc)[:300]
        return result(State.UNKNOWN, Reason.PROXY_ERROR, {})
    auto = retrieval.auto
    if auto is None:
        err = https_s.error or http_s.error
        evidence["detail"] = "Seite weder über HTTP noch über HTTPS erreichbar: " + (err.detail[:200] if err else "")
        evidence["findings"] = tls_findings[:100]
        return result(State.DOWN, err.reason if err else Reason.CONNECT_ERROR, tls_measurements)
    if auto.status < 200 or (auto.status >= 400 and auto.status not in (401, 403)):
        evidence["detail"] = f"Unerwarteter HTTP-Status {auto.status}: keine Bewertung möglich."
        return result(State.DOWN, Reason.HTTP_STATUS, {"status_code": float(auto.status)})

    graded = sh.grade(retrieval)
    findings = _header_findings(graded)
    evidence["observatory"] = cast(Observatory, graded.to_dict())
    evidence["final_url"] = auto.url[:500]
    measurements: SecurityMeasurements = {
        "status_code": float(auto.status), "score": float(graded.score),
        "grade_rank": float(len(sh.GRADES) - 1 - sh.GRADES.index(graded.grade)),
        "tests_passed": float(graded.tests_passed), "tests_failed": float(len(graded.tests) - graded.tests_passed),
    }
    if sh.GRADES.index(graded.grade) > sh.GRADES.index(settings.min_grade):
        findings.insert(0, _finding(
            "headers", "grade", "grade-below-minimum", "critical",
            f"Note {graded.grade} ({graded.score} Punkte) liegt unter der geforderten Mindestnote {settings.min_grade}.",
            "Die Befunde unten beheben; jeder nennt Header und Wert.", title="Gesamtnote"))

    if settings.security_txt:
        key = str(settings.security_txt_key) if settings.security_txt_key else None
        stxt = security_txt.fetch_and_analyse(security_txt.location(https_s.url), options, key)
        evidence["security_txt"] = stxt.to_dict()
        measurements["security_txt_valid"] = 1.0 if stxt.valid else 0.0
        for f in stxt.findings:
            # a finding that names its own fix ("... Abhilfe: ...") keeps it in the fix column, once
            message, _, own_fix = f.message.partition(" Abhilfe: ")
            findings.append(_finding("security.txt", "security-txt", f"security-txt-{f.id}", f.severity, message,
                                     own_fix or SECURITY_TXT_FIX, title="security.txt"))

    findings.extend(tls_findings)
    measurements.update(tls_measurements)
    evidence["findings"] = findings[:100]
    severities = [f["severity"] for f in findings]
    measurements["findings_critical"] = float(severities.count("critical"))
    measurements["findings_warning"] = float(severities.count("warning"))
    measurements["findings_notice"] = float(severities.count("notice"))
    if "critical" in severities:
        evidence["detail"] = next(f["message"] for f in findings if f["severity"] == "critical")[:300]
        return result(State.DOWN, Reason.NONCOMPLIANT, measurements)
    if "warning" in severities:
        evidence["detail"] = f"Note {graded.grade}, {severities.count('warning')} Warnung(en)"
        return result(State.DEGRADED, Reason.FINDINGS, measurements)
    evidence["detail"] = f"Note {graded.grade}, keine Beanstandung"
    return result(State.UP, Reason.OK, measurements)


class SecurityFinding(TypedDict):
    id: str
    severity: str
    message: str


class SecurityDigest(TypedDict):
    """What a security rollup keeps of its last result (the report's grade and findings)."""

    grade: str | None
    score: int | None
    tls: bool | None
    security_txt: bool | None
    findings: list[SecurityFinding]
    detail: str


class SecurityRecords(Records):
    def digest(self, result: CheckResult) -> SecurityDigest:
        ev = result.to_dict()["evidence"]
        m = measurements_of(result)
        obs = ev.get("observatory") or {}
        findings = [f for f in ev.get("findings") or [] if f.get("severity") in ("critical", "warning")]
        return {"grade": obs.get("grade"), "score": obs.get("score"),
                "tls": None if "tls_compliant" not in m else bool(m["tls_compliant"]),
                "security_txt": None if "security_txt_valid" not in m else bool(m["security_txt_valid"]),
                "findings": [{"id": cut(f.get("id"), 80), "severity": f.get("severity"),
                              "message": cut(f.get("message"))} for f in findings[:10]],
                "detail": cut(ev.get("detail"))}


CHECK = CheckImplementation("security", SecuritySettings, run, pool="http", records=SecurityRecords())
