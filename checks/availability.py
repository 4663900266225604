"""Availability: is the service reachable and answering correctly, and how fast?

Measures like blackbox_exporter's http prober (same phases, same metric meaning) and adds
what an operator needs to act: a reason from a fixed set, confirmation by quick retries
before a failure counts, and the attempts as evidence.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, TypedDict, cast

from pydantic import BeforeValidator, Field, FilePath, field_validator, model_validator

from checks.context import CheckContext
from checks.curlprobe import fetch, submit
from checks.httpprobe import CLIENT_PROFILE, FetchOptions, FetchOutcome
from checks.httptext import body_text
from checks.kind import CheckImplementation, Implicated, Records
from checks.locations import Location, LocationUnavailable, combine_votes
from checks.proxy import Proxy, ProxySettings
from checks.result import CheckResult, Reason, State, Target
from checks.settings import ByteSize, CheckSettings, Duration, PositiveDuration, SettingsFileError


def _status_range(value: object) -> tuple[int, int]:
    """200, "2xx", "200-399" -> inclusive range."""
    if isinstance(value, int) and not isinstance(value, bool):
        low = high = value
    elif isinstance(value, str) and re.fullmatch(r"[1-5]xx", value.strip()):
        low = int(value.strip()[0]) * 100
        high = low + 99
    elif isinstance(value, str) and re.fullmatch(r"\s*\d{3}\s*(-\s*\d{3}\s*)?", value):
        bounds = [int(p) for p in value.split("-")]
        low, high = bounds[0], bounds[-1]
    elif isinstance(value, list | tuple) and len(value) == 2:
        low, high = int(value[0]), int(value[1])
    else:
        raise ValueError(f"{value!r} is not a status code; write 200, 2xx or 200-399")
    if not (100 <= low <= high <= 599):
        raise ValueError(f"{value!r}: status codes run from 100 to 599, low before high")
    return low, high


StatusRange = Annotated[tuple[int, int], BeforeValidator(_status_range)]


class AvailabilitySettings(CheckSettings):
    """Settings of the availability check (a profile under `profiles:` or inline)."""

    method: Literal["GET", "HEAD", "POST", "OPTIONS"] = "GET"
    headers: dict[str, str] = Field(default_factory=dict, description="Extra request headers.")
    valid_status_codes: list[StatusRange] = Field(
        default_factory=lambda: [(200, 299)],
        description="Accepted final status codes: 200, 2xx or 200-399; empty means 2xx, as in blackbox_exporter."
    )

    @field_validator("valid_status_codes")
    @classmethod
    def _empty_means_2xx(cls, value: list[tuple[int, int]]) -> list[tuple[int, int]]:
        return value or [(200, 299)]  # blackbox_exporter: "Defaults to 2xx" for an empty list
    follow_redirects: bool = True
    max_redirects: int = Field(10, ge=0, le=50)
    max_body_bytes: ByteSize = Field(10 * 1024 * 1024, gt=0,
                                     description="Bodies larger than this are reported as too_large (bytes, or 10MB, 10MiB).")
    body_must_contain: list[str] = Field(default_factory=list, description="Keywords that must all occur in the body.")
    body_must_match: str | None = Field(None, description="Regular expression that must match the body.")
    body_must_not_match: str | None = Field(None, description="Regular expression that must not match (e.g. 'Wartungsarbeiten').")
    require_https: bool = Field(False, description="Fail when the final URL is plain HTTP.")
    ip_family: Literal["ipv4", "ipv6", "auto"] = Field("ipv4", description="Address family tried first.")
    ip_fallback: bool = Field(True, description="Use the other family when the preferred one has no address.")
    enable_http2: bool = Field(True, description="Speak HTTP/2 where the server offers it (TLS, ALPN), as "
                               "blackbox_exporter's enable_http2; the version is in probe_http_version.")
    verify_tls: bool = True
    ca_file: FilePath | None = Field(None, description="CA bundle for services with a private CA.")
    retries: int = Field(2, ge=0, le=5, description="Quick retries that must all fail before a failure counts as down.")
    retry_delay: Duration = Field(2.0, ge=0)
    degraded_after: PositiveDuration | None = Field(None, description="Answers slower than this are 'degraded' (reason slow).")
    proxy: ProxySettings | Literal["direct"] | None = Field(None, description=(
        "Instead of settings.yaml `proxy:` for this profile: `direct` (no proxy) or a proxy of its own "
        "({url, credentials_file, no_proxy}; credentials_file relative to the settings directory). Empty: the global one."))
    locations: list[str] = Field(default_factory=list, description=(
        "Names of settings.yaml `locations:` to probe from, each interval from every one (e.g. [landesnetz, "
        "internet]). Empty: the monitor's own network only."))
    quorum: int | None = Field(None, ge=1, description=(
        "How many locations must see the service down for `down`; default: all but one, at least 1. Down from fewer "
        "is `degraded` with reason partial_outage; a location that cannot probe (its proxy fails) does not vote."))

    @field_validator("locations")
    @classmethod
    def _distinct_locations(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("ein Standort ist mehrfach genannt; jeden Namen nur einmal")
        return value

    @model_validator(mode="after")
    def _quorum_fits(self) -> AvailabilitySettings:
        if self.quorum is not None and self.quorum > max(1, len(self.locations)):
            raise ValueError(f"quorum {self.quorum} ist größer als die Zahl der Standorte ({len(self.locations)}); "
                             "quorum senken oder Standorte unter locations ergänzen")
        return self

    def location_refs(self) -> list[tuple[tuple[Any, ...], str]]:
        return [(("locations", i), name) for i, name in enumerate(self.locations)]

    def one_location(self) -> AvailabilitySettings:
        return self.model_copy(update={"locations": [], "quorum": None})

    @property
    def effective_quorum(self) -> int:
        return self.quorum or max(1, len(self.locations) - 1)

    @field_validator("body_must_match", "body_must_not_match")
    @classmethod
    def _valid_regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"kein gültiger regulärer Ausdruck (regular expression): {exc}") from exc
        return value

    @model_validator(mode="after")
    def _fits_interval(self) -> AvailabilitySettings:
        worst = self.worst_case_seconds()
        if worst >= self.interval:
            raise ValueError(
                f"ein Lauf kann bis zu {worst:g} s dauern ((retries+1) x timeout + retries x retry_delay), "
                f"nicht kürzer als das Intervall (interval) von {self.interval:g} s; "
                "timeout oder retries senken oder interval erhöhen"
            )
        return self

    def bind_paths(self, base: Path) -> AvailabilitySettings:
        """A proxy of its own: credentials file relative to `base`, read now (a bad one is a config error)."""
        if not isinstance(self.proxy, ProxySettings) or self.proxy.credentials_file is None:
            return self
        try:
            self.proxy.resolve(base)
        except ValueError as exc:
            raise SettingsFileError(("proxy", "credentials_file"), str(exc)) from exc
        bound = self.proxy.model_copy(update={"credentials_file": base / self.proxy.credentials_file})
        return self.model_copy(update={"proxy": bound})

    def options_for(self, ctx: CheckContext | None, location: Location | None = None) -> FetchOptions:
        """The fetch options with the proxy this run goes through: a location's own proxy, else
        the profile's, else the process's."""
        if location is not None and location.proxy is not None:
            proxy: Proxy | None = location.proxy
        elif self.proxy is None:
            proxy = ctx.proxy if ctx is not None else None
        elif self.proxy == "direct":
            proxy = None
        else:
            proxy = self.own_proxy
        options = self.fetch_options if proxy is None else dataclasses.replace(self.fetch_options, proxy=proxy)
        if ctx is not None and (ctx.host_rules or ctx.ca_bundle):  # browser.hosts, browser.ca_files
            options = dataclasses.replace(options, host_rules=ctx.host_rules + options.host_rules,
                                          ca_file=options.ca_file or ctx.ca_bundle)
        return options

    @functools.cached_property
    def own_proxy(self) -> Proxy | None:
        return self.proxy.resolve(Path("/")) if isinstance(self.proxy, ProxySettings) else None

    def worst_case_seconds(self) -> float:
        return (self.retries + 1) * self.timeout + self.retries * self.retry_delay

    @functools.cached_property
    def fetch_options(self) -> FetchOptions:
        return FetchOptions(
            method=self.method,
            headers=tuple(self.headers.items()),
            timeout=self.timeout,
            follow_redirects=self.follow_redirects,
            max_redirects=self.max_redirects,
            max_body_bytes=self.max_body_bytes,
            ip_family=self.ip_family,
            ip_fallback=self.ip_fallback,
            verify_tls=self.verify_tls,
            ca_file=str(self.ca_file) if self.ca_file else None,
            http2=self.enable_http2,
        )

    @functools.cached_property
    def compiled_must_match(self) -> re.Pattern[str] | None:
        return re.compile(self.body_must_match) if self.body_must_match else None

    @functools.cached_property
    def compiled_must_not_match(self) -> re.Pattern[str] | None:
        return re.compile(self.body_must_not_match) if self.body_must_not_match else None


def _body_text(outcome: FetchOutcome) -> str:
    return body_text(outcome.headers, outcome.body)  # a browser's choice of codec; never raises


def judge(outcome: FetchOutcome, settings: AvailabilitySettings) -> tuple[State, Reason, str]:
    """Apply the profile's rules to what was fetched: (state, reason, human detail)."""
    if outcome.error is not None:
        if outcome.error.reason in (Reason.PROXY_ERROR, Reason.INTERNAL_ERROR):  # the monitor's own fault, not the service
            return State.UNKNOWN, outcome.error.reason, outcome.error.detail
        return State.DOWN, outcome.error.reason, outcome.error.detail
    if not any(low <= outcome.status <= high for low, high in settings.valid_status_codes):
        return State.DOWN, Reason.HTTP_STATUS, f"Status {outcome.status} nicht zugelassen (valid_status_codes)"
    if settings.require_https and not outcome.used_tls:
        return State.DOWN, Reason.NOT_HTTPS, "die Zieladresse ist nicht HTTPS"
    if settings.body_must_contain or settings.body_must_match or settings.body_must_not_match:
        text = _body_text(outcome)
        missing = [k for k in settings.body_must_contain if k not in text]
        if missing:
            return State.DOWN, Reason.CONTENT_MISMATCH, f"Suchwort nicht gefunden: {missing[0][:80]!r}"
        if settings.compiled_must_match and not settings.compiled_must_match.search(text):
            return State.DOWN, Reason.CONTENT_MISMATCH, "Inhalt passt nicht auf body_must_match"
        if settings.compiled_must_not_match and settings.compiled_must_not_match.search(text):
            return State.DOWN, Reason.CONTENT_MISMATCH, "Inhalt passt auf body_must_not_match"
    if settings.degraded_after is not None and outcome.duration > settings.degraded_after:
        return State.DEGRADED, Reason.SLOW, f"Antwort nach {outcome.duration:.3f} s, mehr als {settings.degraded_after:g} s"
    return State.UP, Reason.OK, f"Status {outcome.status}"


# --------------------------------------------------------------------------- the result's payload
# Keyed once here for the writer below and every reader (monitor/kinds/availability.py).


class AvailabilityMeasurements(TypedDict, total=False):
    duration_seconds: float
    status_code: float
    redirects: float
    content_length_bytes: float
    http_version: float
    ssl: float
    ip_protocol: float
    ssl_earliest_cert_expiry: float
    phase_resolve_seconds: float
    phase_connect_seconds: float
    phase_tls_seconds: float
    phase_processing_seconds: float
    phase_transfer_seconds: float


class AvailabilityEvidence(TypedDict, total=False):
    detail: str
    final_url: str
    attempts: list[dict[str, Any]]
    redirect_chain: list[str]
    ip: str
    proxy: str  # host:port of the HTTP proxy the request went through
    locations: list[dict[str, Any]]  # with `locations`: each one's vote (name, state, reason, detail, duration)
    partial: dict[str, Any]  # a partial outage: the locations it was down from (and their German descriptions)
    tls: dict[str, Any]  # client_profile, aia_issuer_url, version, cipher, subject, issuer


def phase_key(phase: str) -> str:
    """The measurement of one phase of the request (phase_connect_seconds, ...)."""
    return f"phase_{phase}_seconds"


def measurements_of(result: CheckResult) -> AvailabilityMeasurements:
    return cast(AvailabilityMeasurements, result.measurements)


def evidence_of(result: CheckResult) -> AvailabilityEvidence:
    return cast(AvailabilityEvidence, result.evidence)


def _measurements(outcome: FetchOutcome) -> AvailabilityMeasurements:
    m: AvailabilityMeasurements = {}
    for phase, value in outcome.phases.items():
        cast(dict[str, float], m)[phase_key(phase)] = round(value, 6)
    m["duration_seconds"] = round(outcome.duration, 6)
    m["status_code"] = float(outcome.status)
    m["redirects"] = float(outcome.redirects)
    m["content_length_bytes"] = float(outcome.content_length)
    m["http_version"] = outcome.http_version
    m["ssl"] = 1.0 if outcome.used_tls and outcome.tls is not None else 0.0
    m["ip_protocol"] = float(outcome.ip_protocol)
    if outcome.tls is not None and outcome.tls.earliest_cert_expiry is not None:
        m["ssl_earliest_cert_expiry"] = outcome.tls.earliest_cert_expiry
    return m


def _attempt_evidence(outcome: FetchOutcome, state: State, reason: Reason, detail: str) -> dict:
    return {
        "at": outcome.started_at.isoformat(),
        "state": state.value,
        "reason": reason.value,
        "detail": detail[:300],
        "status_code": outcome.status,
        "duration_seconds": round(outcome.duration, 6),
    }


def run(target: Target, settings: AvailabilitySettings, ctx: CheckContext | None = None) -> CheckResult:
    """Probe `target.url`; a failure is retried `settings.retries` times before it counts.
    With `locations`, from each of them, and the votes decide (`start`)."""
    if settings.locations:
        got: list[CheckResult | Exception] = []
        ended = threading.Event()

        def done(outcome: CheckResult | Exception) -> None:
            got.append(outcome)
            ended.set()

        start(target, settings, ctx, done)
        ended.wait()
        if isinstance(got[0], Exception):
            raise got[0]
        return got[0]
    started, t0 = datetime.now(UTC), time.monotonic()
    options = settings.options_for(ctx)
    return _conclude(target, settings, options, started, t0, fetch(target.url, options))


def start(target: Target, settings: AvailabilitySettings, ctx: CheckContext | None,
          done: Callable[[CheckResult | Exception], None]) -> None:
    """`run` without a thread waiting for the probe: `done(result)` is called on the prober's
    loop thread when it ends (or `done(exception)` if judging it failed). A failure that is to
    be retried continues on a thread of the retry pool, which waits `retry_delay` between
    attempts as `run` does; only failing probes take that way. With `locations`, one probe
    from each at once, and `done` once the last has ended (`combine`)."""
    if settings.locations:
        _start_located(target, settings, ctx, done)
        return
    _start_one(target, settings, settings.options_for(ctx), done)


def _start_located(target: Target, settings: AvailabilitySettings, ctx: CheckContext | None,
                   done: Callable[[CheckResult | Exception], None]) -> None:
    started, t0 = datetime.now(UTC), time.monotonic()
    names = list(settings.locations)
    known = ctx.locations if ctx is not None else {}
    results: dict[str, CheckResult | Exception] = {}
    lock = threading.Lock()

    def one_done(name: str, outcome: CheckResult | Exception) -> None:
        with lock:
            results[name] = outcome
            complete = len(results) == len(names)
        if complete:
            try:
                combined: CheckResult | Exception = combine(target, settings, names, results, known, started, t0)
            except Exception as exc:
                combined = exc
            done(combined)

    for name in names:
        location = known.get(name)
        if location is None:  # validated against settings.yaml; only a context built without them gets here
            one_done(name, RuntimeError(f"Standort {name!r} ist in diesem Prozess nicht konfiguriert"))
            continue
        _start_one(target, settings, settings.options_for(ctx, location),
                   functools.partial(one_done, name))


def _start_one(target: Target, settings: AvailabilitySettings, options: FetchOptions,
               done: Callable[[CheckResult | Exception], None]) -> None:
    started, t0 = datetime.now(UTC), time.monotonic()

    def conclude(outcome: FetchOutcome, verdict: tuple[State, Reason, str]) -> None:
        try:
            result: CheckResult | Exception = _conclude(target, settings, options, started, t0, outcome, verdict)
        except Exception as exc:
            result = exc
        done(result)

    def first(outcome: FetchOutcome) -> None:
        try:
            verdict = judge(outcome, settings)
        except Exception as exc:
            done(exc)
            return
        if settings.retries and verdict[0] is State.DOWN:
            _retry_pool().submit(conclude, outcome, verdict)  # the retries wait: not on the loop thread
        else:
            conclude(outcome, verdict)

    submit(target.url, options, first)


_RETRIES: concurrent.futures.ThreadPoolExecutor | None = None
_RETRIES_LOCK = threading.Lock()


def _retry_pool() -> concurrent.futures.ThreadPoolExecutor:
    global _RETRIES
    with _RETRIES_LOCK:
        if _RETRIES is None:
            _RETRIES = concurrent.futures.ThreadPoolExecutor(32, thread_name_prefix="availability-retry")
        return _RETRIES


def _conclude(target: Target, settings: AvailabilitySettings, options: FetchOptions, started: datetime, t0: float,
              outcome: FetchOutcome, verdict: tuple[State, Reason, str] | None = None) -> CheckResult:
    """The result of a probe whose first attempt ended in `outcome` (judged: `verdict`): the
    retries it is due (they wait), then the result with every attempt as evidence."""
    attempts: list[dict] = []
    while True:
        state, reason, detail = verdict or judge(outcome, settings)
        verdict = None
        attempts.append(_attempt_evidence(outcome, state, reason, detail))
        if state is not State.DOWN or len(attempts) > settings.retries:
            break
        time.sleep(settings.retry_delay)
        outcome = fetch(target.url, options)
    if state is State.UP and len(attempts) > 1:
        state, reason = State.DEGRADED, Reason.RECOVERED_ON_RETRY
        detail = f"zuerst gescheitert ({attempts[0]['reason']}), beim {len(attempts)}. Versuch erreicht"
    evidence: AvailabilityEvidence = {
        "detail": detail[:300],
        "final_url": outcome.final_url[:2000],
        "attempts": attempts,
    }
    if outcome.redirect_chain:
        evidence["redirect_chain"] = [u[:500] for u in outcome.redirect_chain]
    if outcome.ip:
        evidence["ip"] = outcome.ip
    if outcome.proxy:
        evidence["proxy"] = outcome.proxy
    if outcome.tls is not None:
        evidence["tls"] = {
            "client_profile": CLIENT_PROFILE,
            "aia_issuer_url": outcome.tls.aia_issuer_url,
            "version": outcome.tls.version,
            "cipher": outcome.tls.cipher,
            "subject": outcome.tls.subject,
            "issuer": outcome.tls.issuer,
        }
    return CheckResult(
        service_id=target.service_id,
        url=target.url,
        kind="availability",
        state=state,
        reason=reason,
        started_at=started,
        duration_seconds=round(time.monotonic() - t0, 6),
        measurements=cast(dict[str, float], _measurements(outcome)),
        evidence=cast(dict[str, Any], evidence),
    )


def combine(target: Target, settings: AvailabilitySettings, names: list[str],
            results: Mapping[str, CheckResult | Exception], locations: Mapping[str, Location],
            started: datetime, t0: float) -> CheckResult:
    """One result of the probes from each location: the verdict by quorum (`combine_votes`), the
    measurements and evidence of the location that decided it (the first in the profile's order
    that was down for `down`, else the first that reached the service), every location's vote in
    `evidence.locations`."""
    rows: list[dict[str, Any]] = []
    for name in names:
        r = results[name]
        if isinstance(r, Exception):
            lost = Reason.LOCATION_UNAVAILABLE if isinstance(r, LocationUnavailable) else Reason.INTERNAL_ERROR
            rows.append({"name": name, "state": State.UNKNOWN.value, "reason": lost.value, "detail": str(r)[:200]})
            continue
        row = {"name": name, "state": r.state.value, "reason": r.reason.value,
               "detail": str(r.evidence.get("detail", ""))[:200],
               "duration_seconds": r.measurements.get("duration_seconds")}
        if r.evidence.get("proxy"):
            row["proxy"] = r.evidence["proxy"]
        rows.append(row)
    verdict = combine_votes([(row["name"], row["state"]) for row in rows], settings.effective_quorum)
    described = {n: (locations[n].description if n in locations else n) for n in names}

    def first(wanted: tuple[str, ...]) -> CheckResult | None:
        return next((r for n in names if n in wanted and isinstance(r := results[n], CheckResult)), None)

    if verdict.outcome == "unknown":
        base = first(verdict.unknown)
        state = State.UNKNOWN
        reason = base.reason if base is not None else Reason(rows[0]["reason"]) if rows else Reason.INTERNAL_ERROR
        detail = "kein Standort konnte prüfen: " + "; ".join(f"{row['name']}: {row['detail']}" for row in rows)
    elif verdict.outcome == "down":
        base = first(verdict.down)
        assert base is not None
        state, reason = State.DOWN, base.reason
        detail = (f"nicht erreichbar von {len(verdict.down)} von {len(verdict.known)} Standorten "
                  f"({', '.join(verdict.down)}): {base.evidence.get('detail', '')}")
    else:
        reached = tuple(n for n in verdict.known if n not in verdict.down)
        base = first(reached)
        assert base is not None
        if verdict.outcome == "partial":
            state, reason = State.DEGRADED, Reason.PARTIAL_OUTAGE
            why = "; ".join(f"{row['name']}: {row['reason']}" for row in rows if row["name"] in verdict.down)
            detail = (f"eingeschränkt ({' und '.join(described[n] for n in verdict.down)} nicht erreichbar: {why}); "
                      f"erreichbar von {', '.join(reached)}")
        else:
            worst = max((r for n in reached if isinstance(r := results[n], CheckResult)),
                        key=lambda r: r.state is State.DEGRADED)
            state, reason, detail = worst.state, worst.reason, str(worst.evidence.get("detail", ""))
    evidence = {**(base.to_dict()["evidence"] if base is not None else {}), "detail": detail[:500], "locations": rows}
    if verdict.outcome == "partial":
        evidence["partial"] = {"locations": list(verdict.down), "described": [described[n] for n in verdict.down]}
    return CheckResult(target.service_id, target.url, "availability", state, reason, started,
                       round(time.monotonic() - t0, 6),
                       measurements=dict(base.measurements) if base is not None else {}, evidence=evidence)


_ATTEMPT_KEYS = ("at", "state", "reason", "detail", "status_code", "duration_seconds")  # an attempt's evidence


def _derived_attempt(plain: dict[str, Any]) -> dict[str, Any]:
    """The attempt a result of one attempt implies: its state, reason, detail and figures."""
    m = plain["measurements"]
    status = m.get("status_code")
    return {"state": plain["state"], "reason": plain["reason"], "detail": plain["evidence"].get("detail", ""),
            "status_code": int(status) if isinstance(status, int | float) else None,
            "duration_seconds": m.get("duration_seconds")}


def _attempt_at(started: datetime, offset_us: int) -> str:
    return (started + timedelta(microseconds=offset_us)).isoformat()


class AvailabilityRecords(Records):
    """One result a minute per URL: the rollups keep the latency histogram, not measurements;
    a row of one attempt does not repeat what its columns hold."""

    keep_measurements = False
    raw_retention_days = 2
    hour_rollups = True
    status_light = True  # the status page's light is the availability of a service

    def latency(self, result: CheckResult) -> float:
        if result.state not in (State.UP, State.DEGRADED):
            return math.nan
        value = measurements_of(result).get("duration_seconds", result.duration_seconds)
        return float(value) if isinstance(value, int | float) else math.nan

    def tally(self, result: CheckResult) -> dict[str, int] | None:
        """With locations: each location's vote (`loc:<name>:up|down|unknown`, degraded counts as
        up: it answered), the quorum's verdict (`quorum:up|down`) and the two definitions beside it:
        `any:up|down` (at least one
        location reached it, of runs where one could tell) and `all:up|down` (every location
        reached it, of runs where all could tell)."""
        rows = evidence_of(result).get("locations")
        if not rows:
            return None
        out: dict[str, int] = {}
        votes = []
        for row in rows:
            vote = {"degraded": "up"}.get(row["state"], row["state"])
            votes.append(vote)
            out[f"loc:{row['name']}:{vote}"] = 1
        if any(v != "unknown" for v in votes):
            out["any:up" if "up" in votes else "any:down"] = 1
        if "unknown" not in votes:
            out["all:up" if all(v == "up" for v in votes) else "all:down"] = 1
        if result.state is not State.UNKNOWN:
            out["quorum:down" if result.state is State.DOWN else "quorum:up"] = 1
        return out

    def implicated(self, result: CheckResult) -> Implicated:
        """The URL probed and, after redirects, the one that answered last (a login host)."""
        final = evidence_of(result).get("final_url")
        return Implicated(urls=tuple(dict.fromkeys(u for u in (final, result.url) if u)))

    def compact_evidence(self, plain: dict[str, Any]) -> dict[str, Any]:
        """A result of one attempt (nearly every `up`) keeps only what its attempt does not share
        with the row: its start as microseconds after the result's and any field that differs.
        Retried results keep their attempts as they are."""
        evidence = plain["evidence"]
        attempts = evidence.get("attempts")
        if not (isinstance(attempts, list) and len(attempts) == 1 and isinstance(attempts[0], dict)
                and tuple(attempts[0]) == _ATTEMPT_KEYS and isinstance(attempts[0]["at"], str)):
            return evidence
        attempt, derived = attempts[0], _derived_attempt(plain)
        own: dict[str, Any] = {}
        started = datetime.fromisoformat(plain["started_at"])
        try:
            offset = (datetime.fromisoformat(attempt["at"]) - started) // timedelta(microseconds=1)
        except ValueError:
            offset = None
        if offset is not None and _attempt_at(started, offset) == attempt["at"]:
            if offset:
                own["at_us"] = offset
        else:
            own["at"] = attempt["at"]
        for key in _ATTEMPT_KEYS[1:]:
            if attempt[key] != derived[key] or type(attempt[key]) is not type(derived[key]):
                own[key] = attempt[key]
        return {**evidence, "attempts": own}  # an object, never a list: the compact form

    def expand_evidence(self, plain: dict[str, Any]) -> None:
        evidence = plain["evidence"]
        own = evidence.get("attempts")
        if not isinstance(own, dict):
            return
        derived = _derived_attempt(plain)
        at = own["at"] if "at" in own else _attempt_at(datetime.fromisoformat(plain["started_at"]), own.get("at_us", 0))
        evidence["attempts"] = [{"at": at, **{key: own.get(key, derived[key]) for key in _ATTEMPT_KEYS[1:]}}]


CHECK = CheckImplementation("availability", AvailabilitySettings, run, pool="http", start=start,
                            records=AvailabilityRecords(), combine=combine)
