"""Settings and service catalog: YAML files validated with pydantic.

Every error names the file, the line, the service and the field, and says what would be
accepted, so an operator can fix a catalog without reading code. Loading never changes
anything: the caller decides whether to swap the new configuration in.
"""

from __future__ import annotations

import dataclasses
import gc
import glob
import hmac
import os
import re
import time as _time
from datetime import date, datetime, time, timedelta
from ipaddress import IPv4Network, IPv6Network, ip_address
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    IPvAnyNetwork,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)

from checks.browser import BrowserSettings
from checks.proxy import Proxy, ProxySettings
from checks.result import kind_name
from checks.settings import CheckSettings, Duration, PositiveDuration, SettingsFileError
from monitor.config_issues import (  # noqa: F401 - ConfigIssue, ConfigError and german are part of this module's API
    ConfigError,
    ConfigIssue,
    _issues_from,
    _LineIndex,
    _read_yaml,
    _where_in_journey,
    german,
    trusted_ca_files,
)

ServiceId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$")]
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- settings


class CanarySettings(_Model):
    """Reference targets that tell a monitor-side network failure from a service outage."""

    urls: list[AnyHttpUrl] = Field(default_factory=list, description="Independent reference URLs.")
    min_failing: int = Field(0, ge=0, description="How many must fail to blame the monitor's network; 0 = all of them.")
    interval: PositiveDuration = Field(60.0, description="How often the canaries are probed on their own.")
    timeout: PositiveDuration = Field(5.0)
    ca_file: Path | None = None


def _known_kind(name: str) -> str:
    from monitor.kinds import REGISTRY

    if name not in REGISTRY:
        raise ValueError(f"unbekannte Prüfart {name!r}; bekannt: {', '.join(REGISTRY.names())}")
    return kind_name(REGISTRY[name].name)


def _kind_schema(schema: dict[str, Any]) -> None:
    from monitor.kinds import REGISTRY

    schema["enum"] = REGISTRY.names()


# A check kind's name, as registered in monitor.kinds.REGISTRY.
KindName = Annotated[str, AfterValidator(_known_kind), Field(json_schema_extra=_kind_schema)]


class StoreSettings(_Model):
    url: str = Field("sqlite:///var/egov-monitor.db", description="SQLAlchemy URL; relative SQLite paths are relative to the settings file.")
    raw_retention_days: int = Field(30, ge=1, description="Raw results older than this are deleted; the report reads "
                                    "the hourly and daily rollups, which are kept, as are results that changed a state.")
    raw_retention_days_by_kind: dict[KindName, Annotated[int, Field(ge=1)]] = Field(
        default_factory=lambda: {"availability": 2},
        description="Per check kind, instead of raw_retention_days (availability: one result a minute per URL).")
    write_buffer: int = Field(100_000, ge=10, le=10_000_000, description=(
        "Results the daemon keeps in memory while the store does not take writes (restart, full disk); when it is "
        "full the oldest are dropped and counted (egov_store_dropped_results_total). 100 000 are about 2 hours of "
        "1 000 availability targets at 60 s and about 300 MB."))

    def retention_days(self, kind: str) -> int:
        return self.raw_retention_days_by_kind.get(kind, self.raw_retention_days)


class PoolSettings(_Model):
    http: int = Field(32, ge=1, le=1024, description="Threads for HTTP checks; also the availability probes under way "
                                                      "at once without a thread of their own.")
    browser: int = Field(2, ge=1, le=64, description="Browser sessions (one Chromium each); 2 fits a 2-core machine. "
                         "Both pools keep their size until the next start (a reload logs a warning).")


class QueueSettings(_Model):
    """Distributed mode: a scheduler enqueues check jobs on Redis, workers run them (see README, Scale-out)."""

    url: str = Field(..., pattern=r"^rediss?://", description="Redis URL of the task queue (Dramatiq), "
                     "e.g. redis://redis:6379/0. Setting it switches to distributed mode: "
                     "`egov-monitor scheduler` plus `egov-monitor worker` instead of `egov-monitor run`.")
    namespace: str = Field("egov-monitor", pattern=r"^[A-Za-z0-9_.-]+$",
                           description="Key prefix in Redis; separate fleets on one Redis need different ones.")
    redelivery_after: PositiveDuration = Field(
        30.0, description="A worker silent for this long counts as dead; its unfinished jobs go to another worker.")
    store_retries: int = Field(5, ge=0, le=50, description="How often a job is retried when its result cannot be stored.")
    lease_retry: PositiveDuration = Field(
        5.0, description="How often a standby scheduler tries to take over the scheduling lease.")


class StatusPageSettings(_Model):
    """The public status page (/status on the daemon, `egov-monitor statuspage --out DIR`)."""

    enabled: bool = Field(True, description="Serve /status (services with public: true only).")
    title: str = Field("Status der Online-Dienste", min_length=1, max_length=120)
    intro: str = Field("", max_length=2000, description="German text under the title (plain text).")
    base_url: AnyHttpUrl | None = Field(None, description="Where the page is published; makes the Atom feed's links absolute.")
    cache_seconds: PositiveDuration = Field(60.0, description=(
        "How long a rendered page is reused; a state change or a new record re-renders it within a second."))


class Settings(_Model):
    """config/settings.yaml"""

    catalog: list[str] = Field(default_factory=lambda: ["catalog.yaml"], description="Catalog files or globs, relative to this file.")
    listen: str = Field("127.0.0.1:9469", pattern=r"^[^\s:]*:\d{1,5}$", description="host:port of /metrics and /healthz.")
    timezone: str = "Europe/Berlin"
    heartbeat_interval: PositiveDuration = 15.0
    store: StoreSettings = Field(default_factory=StoreSettings)
    pools: PoolSettings = Field(default_factory=PoolSettings)
    canaries: CanarySettings = Field(default_factory=CanarySettings)
    browser: BrowserSettings = Field(default_factory=BrowserSettings)
    proxy: ProxySettings | None = Field(None, description=(
        "HTTP proxy for every check (HTTPS through CONNECT), e.g. {url: http://proxy.land.example:3128, "
        "credentials_file: proxy-zugang, no_proxy: [.intranet.saarland]}. Empty: HTTPS_PROXY / HTTP_PROXY / NO_PROXY "
        "of the environment. A failing proxy makes results unknown (reason proxy_error), never down."))
    queue: QueueSettings | None = Field(None, description="Unset: one process does everything (embedded default).")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    reload_from: list[IPvAnyNetwork] = Field(
        default_factory=lambda: list[IPv4Network | IPv6Network]([IPv4Network("127.0.0.0/8"), IPv6Network("::1/128")]),
        description="Addresses POST /-/reload is accepted from without a token (default: this machine only).")
    status_page: StatusPageSettings = Field(default_factory=StatusPageSettings)
    incidents: list[str] = Field(default_factory=lambda: ["incidents/*.yaml"], description=(
        "Incident and maintenance records kept in git (files or globs, relative to this file); "
        "loaded at start and reload, beside those written with `egov-monitor incident`."))
    reload_token_file: Path | None = Field(
        None, description="File with a secret (first line), relative to this file: POST /-/reload from anywhere else "
                          "then needs 'Authorization: Bearer <secret>'; egov-monitor reload sends it.")

    def reload_refusal(self, client: str, authorization: str | None, base: Path) -> str | None:
        """Why a reload request from `client` is refused (German), or None when it may reload."""
        try:
            address = ip_address(client.split("%", 1)[0])
        except ValueError:
            address = None
        if address is not None and any(address in net for net in self.reload_from):
            return None
        if self.reload_token_file is None:
            return (f"Neuladen von {client} nicht erlaubt: nur von {', '.join(str(n) for n in self.reload_from)} "
                    "oder mit reload_token_file")
        token = self.reload_token(base)
        if token is None:
            return "Neuladen nicht möglich: reload_token_file nicht lesbar"
        if authorization is None or not hmac.compare_digest(authorization.encode(), f"Bearer {token}".encode()):
            return f"Neuladen von {client} nicht erlaubt: Token fehlt oder ist falsch"
        return None

    def reload_token(self, base: Path) -> str | None:
        if self.reload_token_file is None:
            return None
        path = self.reload_token_file if self.reload_token_file.is_absolute() else base / self.reload_token_file
        try:
            return (path.read_text(encoding="utf-8").splitlines() or [""])[0].strip() or None
        except OSError:
            return None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unbekannte Zeitzone {value!r}; z. B. Europe/Berlin") from exc
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def listen_host_port(self) -> tuple[str, int]:
        host, _, port = self.listen.rpartition(":")
        return host or "0.0.0.0", int(port)


# --------------------------------------------------------------------------- catalog


def _hhmm(value: object) -> time:
    if isinstance(value, int):  # YAML reads 02:00 as sexagesimal 120
        return time(value // 60, value % 60)
    if isinstance(value, str) and re.fullmatch(r"\d{1,2}:\d{2}", value.strip()):
        h, m = (int(p) for p in value.strip().split(":"))
        return time(h, m)
    raise ValueError(f"{value!r} ist keine Uhrzeit; schreiben Sie z. B. \"02:30\"")


class MaintenanceWindow(_Model):
    """A declared maintenance window: one-off (start/end) or recurring (every/at/duration).

    Times without a zone are local time in the settings' timezone.
    """

    reason: str = Field(..., min_length=1, max_length=500)
    start: datetime | None = None
    end: datetime | None = None
    every: Literal["day", "week"] | None = None
    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = Field(default_factory=list)
    at: Annotated[time, Field(description="Local start time HH:MM")] | None = None
    duration: PositiveDuration | None = None

    @field_validator("at", mode="before")
    @classmethod
    def _parse_at(cls, value: object) -> object:
        return None if value is None else _hhmm(value)

    @field_serializer("at")
    def _dump_at(self, value: time | None) -> str | None:
        return None if value is None else value.strftime("%H:%M")  # as written, so it reads back

    @model_validator(mode="after")
    def _one_shape(self) -> MaintenanceWindow:
        one_off = self.start is not None or self.end is not None
        recurring = self.every is not None
        if one_off == recurring:
            raise ValueError("entweder start und end (einmalig) oder every, at und duration (wiederkehrend) angeben")
        if one_off and (self.start is None or self.end is None or self.end <= self.start):
            raise ValueError("einmalige Wartung braucht start und end, end nach start")
        if recurring and (self.at is None or self.duration is None):
            raise ValueError("wiederkehrende Wartung braucht at (z. B. \"02:00\") und duration (z. B. 2h)")
        if self.every == "week" and not self.days:
            raise ValueError("every: week braucht days, z. B. [sun]")
        return self

    def intervals(self, start: datetime, end: datetime, tz: ZoneInfo) -> list[tuple[datetime, datetime]]:
        """The window's occurrences overlapping [start, end), as aware datetimes."""
        if self.start is not None and self.end is not None:
            s = self.start if self.start.tzinfo else self.start.replace(tzinfo=tz)
            e = self.end if self.end.tzinfo else self.end.replace(tzinfo=tz)
            return [(s, e)] if s < end and e > start else []
        assert self.at is not None and self.duration is not None
        out = []
        day: date = (start.astimezone(tz) - timedelta(seconds=self.duration)).date()
        last: date = end.astimezone(tz).date()
        while day <= last:
            if self.every == "day" or WEEKDAYS[day.weekday()] in self.days:
                # Wall-clock window: "02:00 for 2h" ends at 04:00 local, so it lasts 1 real hour on
                # the spring daylight-saving night and 3 on the autumn one (the report counts real seconds).
                s = datetime.combine(day, self.at, tzinfo=tz)
                e = s + timedelta(seconds=self.duration)
                if s < end and e > start:
                    out.append((s, e))
            day += timedelta(days=1)
        return out

    def active_at(self, moment: datetime, tz: ZoneInfo) -> bool:
        return bool(self.intervals(moment, moment + timedelta(microseconds=1), tz))


class Profile(BaseModel):
    """A reusable set of check settings, like a blackbox_exporter module."""

    model_config = ConfigDict(extra="allow", frozen=True)
    kind: KindName


class Service(_Model):
    """One monitored service. The first URL is its start page."""

    id: ServiceId
    name: str = Field(..., min_length=1, max_length=200)
    category: Literal["efa", "basisdienst", "kommune"] = Field(
        ..., description="efa = Anlage 1 (EfA-Leistung), basisdienst = Anlage 2, kommune = kommunaler Dienst"
    )
    operator: str = Field(..., min_length=1, description="Who runs it, e.g. the Land that provides an EfA service.")
    contact: str = Field(..., min_length=3, description="Whom to call when it is down (e-mail or team).")
    urls: list[AnyHttpUrl] = Field(..., min_length=1)
    checks: dict[KindName, Any] = Field(..., min_length=1, description="Check kind -> profile name or settings.")
    availability_target: float = Field(99.5, gt=0, le=100, description="Target availability in percent.")
    maintenance: list[MaintenanceWindow] = Field(default_factory=list)
    labels: dict[Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]*$")], str] = Field(default_factory=dict)
    public: bool = Field(False, description="Shown on the public status page (name, state, availability, incidents).")

    @field_validator("urls")
    @classmethod
    def _unique_urls(cls, urls: list[AnyHttpUrl]) -> list[AnyHttpUrl]:
        seen = [str(u) for u in urls]
        dupes = {u for u in seen if seen.count(u) > 1}
        if dupes:
            raise ValueError(f"URL mehrfach angegeben: {min(dupes)}")
        return urls


class CatalogFile(_Model):
    profiles: dict[str, Profile] = Field(default_factory=dict)
    services: list[Service] = Field(default_factory=list)
    example: bool = Field(False, description="Marks a shipped example catalog; the daemon logs a warning.")


@dataclasses.dataclass(frozen=True, slots=True)
class ResolvedService:
    """A service with each check's settings merged (kind defaults < profile < inline)."""

    service: Service
    checks: dict[str, CheckSettings]  # kind name -> its settings
    source: str

    @property
    def id(self) -> str:
        return self.service.id

    @property
    def urls(self) -> list[str]:
        return [str(u) for u in self.service.urls]


@dataclasses.dataclass(frozen=True, slots=True)
class Config:
    """A complete, valid configuration."""

    settings: Settings
    settings_file: Path
    services: dict[str, ResolvedService]
    example: bool
    proxy: Proxy | None = None  # settings.yaml `proxy:`, else HTTPS_PROXY/NO_PROXY; credentials read
    incidents: tuple[Any, ...] = ()  # monitor.incidents.Incident records from the files of `incidents:`
    loaded_at: float = dataclasses.field(default_factory=_time.time, compare=False)  # when it was read (unix seconds)

    @property
    def browser_settings(self) -> BrowserSettings:
        """settings.yaml `browser:` with the proxy as Chromium flags (unless the operator set
        --proxy-server). Loopback is not bypassed implicitly, as with the prober."""
        browser = self.settings.browser
        if self.proxy is None or any(a.startswith("--proxy-server") for a in browser.arguments):
            return browser
        bypass = ";".join(["<-loopback>", *self.proxy.no_proxy])
        return browser.model_copy(update={"arguments": [*browser.arguments, f"--proxy-server=http://{self.proxy.address}",
                                                        f"--proxy-bypass-list={bypass}"]})

    def resolve_path(self, value: str | Path) -> Path:
        path = Path(value)
        return path if path.is_absolute() else (self.settings_file.parent / path)

    @property
    def store_url(self) -> str:
        url = self.settings.store.url
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/") and url != "sqlite:///:memory:":
            return prefix + str(self.resolve_path(url[len(prefix):]).resolve())
        return url


def _resolve_check(kind: str, raw: Any, profiles: dict[str, Profile]) -> tuple[CheckSettings | None, list[tuple[tuple, str]]]:
    from monitor.kinds import REGISTRY

    registered = REGISTRY.get(kind)
    if registered is None:
        return None, [((), f"Prüfart {kind} ist nicht implementiert")]
    impl = registered.check
    merged: dict[str, Any] = {}
    if isinstance(raw, str):
        raw = {"profile": raw}
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        return None, [((), "erwartet einen Profilnamen oder eine Zuordnung von Einstellungen")]
    raw = dict(raw)
    profile_name = raw.pop("profile", None)
    if profile_name is not None:
        profile = profiles.get(str(profile_name))
        if profile is None:
            known = ", ".join(sorted(profiles)) or "(keine definiert)"
            return None, [(("profile",), f"unbekanntes Profil {profile_name!r}; bekannt: {known}")]
        if profile.kind != kind:
            return None, [(("profile",), f"Profil {profile_name!r} ist für {profile.kind}, nicht für {kind}")]
        merged.update(profile.model_extra or {})
    merged.update(raw)
    try:
        return impl.settings_model.model_validate(merged), []
    except ValidationError as exc:
        return None, [(tuple(e["loc"]), german(e)) for e in exc.errors(include_url=False)]


def _kind_names() -> list[str]:
    from monitor.kinds import REGISTRY

    return REGISTRY.names()


def _salvage(cdata: Any) -> tuple[CatalogFile, list[tuple[int, Service]]]:
    """The parts of a catalog that validate alone: its profiles and services one by one."""
    data = cdata if isinstance(cdata, dict) else {}
    profiles = {}
    for name, raw in (data.get("profiles") or {}).items() if isinstance(data.get("profiles"), dict) else ():
        try:
            profiles[str(name)] = Profile.model_validate(raw)
        except ValidationError:
            pass
    valid: list[tuple[int, Service]] = []
    raw_services = data.get("services")
    for i, raw in enumerate(raw_services if isinstance(raw_services, list) else []):
        try:
            valid.append((i, Service.model_validate(raw)))
        except ValidationError:
            pass
    example = data.get("example") is True
    return CatalogFile(profiles=profiles, services=[s for _i, s in valid], example=example), valid


def _profile_errors(profiles: dict[str, Profile]) -> dict[str, list[tuple[tuple, str]]]:
    """Each profile validated once on its own: its errors by profile name, located in the profile.

    A field a profile leaves out is no error here (a service may give it), nor is a rule across
    fields (timeout within interval): the service's own values may settle it."""
    from monitor.kinds import REGISTRY

    out: dict[str, list[tuple[tuple, str]]] = {}
    for name, profile in profiles.items():
        registered = REGISTRY.get(profile.kind)
        if registered is None:
            continue
        try:
            registered.check.settings_model.model_validate(profile.model_extra or {})
        except ValidationError as exc:
            errors = [(tuple(e["loc"]), german(e)) for e in exc.errors(include_url=False)
                      if e["type"] != "missing" and e["loc"]]
            if errors:
                out[name] = errors
    return out


def _not_in_profile(raw: Any, errors: list[tuple[tuple, str]],
                    profile_errors: dict[str, list[tuple[tuple, str]]]) -> list[tuple[tuple, str]]:
    """A check's errors without those its profile already reported (unless the service sets the field itself)."""
    name = _profile_name(raw)
    if name not in profile_errors:
        return errors
    inline = set(raw) if isinstance(raw, dict) else set()
    in_profile = {loc[:1] for loc, _msg in profile_errors[name]}
    return [(loc, msg) for loc, msg in errors if loc[:1] not in in_profile or loc[0] in inline]


def _profile_name(raw: Any) -> str | None:
    if isinstance(raw, str):
        return raw
    if isinstance(raw, dict) and raw.get("profile") is not None:
        return str(raw["profile"])
    return None


def load_config(settings_path: str | Path) -> Config:
    """Read and validate settings and catalog. Raises ConfigError listing every problem."""
    # Without the cycle collector while the catalog is built: everything read stays alive, so
    # each full collection walked it all again (10,000 services: 2.3-2.9 s instead of 1.0 s,
    # and in a running daemon's reload each of those collections held up every check).
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _load_config(Path(settings_path))
    finally:
        if enabled:
            gc.enable()


def _load_config(settings_file: Path) -> Config:
    data, index = _read_yaml(settings_file)
    try:
        settings = Settings.model_validate(data or {})
    except ValidationError as exc:
        raise ConfigError(_issues_from(exc, str(settings_file), index)) from None

    issues: list[ConfigIssue] = []
    files: list[Path] = []
    for pattern in settings.catalog:
        full = pattern if Path(pattern).is_absolute() else str(settings_file.parent / pattern)
        matches = sorted(glob.glob(full))
        if not matches:
            issues.append(ConfigIssue(str(settings_file), index.line(("catalog",)), None, "catalog",
                                      f"keine Katalogdatei gefunden für {pattern!r}"))
        files.extend(Path(m) for m in matches)

    services: dict[str, ResolvedService] = {}
    claimed: dict[str, str] = {}  # ids of services that did not validate: still taken
    example = False
    for file in files:
        try:
            cdata, cindex = _read_yaml(file)
        except ConfigError as exc:
            issues.extend(exc.issues)
            continue
        try:
            catalog = CatalogFile.model_validate(cdata or {})
            valid = list(enumerate(catalog.services))
        except ValidationError as exc:
            # every error of the file in one run: what validates alone is still checked further
            # (its checks, duplicate ids); the rest was reported here
            issues.extend(_issues_from(exc, str(file), cindex, data=cdata))
            catalog, valid = _salvage(cdata)
        example = example or catalog.example
        # A profile's own errors are reported once, at the profile's line; services using it
        # do not repeat them (unless they set the field themselves).
        profile_errors = _profile_errors(catalog.profiles)
        for name, errors in profile_errors.items():
            for loc, msg in errors:
                path = ("profiles", name) + loc
                issues.append(ConfigIssue(str(file), cindex.line(path), None, ".".join(str(p) for p in path), msg))
        raw_list: list[Any] = (cdata["services"] if isinstance(cdata, dict) and isinstance(cdata.get("services"), list)
                               else [])
        valid_at = {i for i, _s in valid}
        for i, raw in enumerate(raw_list):
            if i in valid_at or not isinstance(raw, dict):
                continue
            sid = raw.get("id")
            if isinstance(sid, str) and (sid in services or sid in claimed):
                where = services[sid].source if sid in services else claimed[sid]
                issues.append(ConfigIssue(str(file), cindex.line(("services", i, "id")), sid, f"services.{i}.id",
                                          f"Dienst-ID bereits vergeben in {where}; IDs müssen eindeutig sein"))
            elif isinstance(sid, str):
                claimed[sid] = str(file)  # an invalid service still holds its id
            for kind, raw_check in (raw.get("checks") or {}).items() if isinstance(raw.get("checks"), dict) else ():
                if str(kind) not in _kind_names():
                    continue  # reported by the catalog's validation
                _settings, errors = _resolve_check(str(kind), raw_check, catalog.profiles)
                for loc, msg in _not_in_profile(raw_check, errors, profile_errors):
                    path = ("services", i, "checks", kind) + loc
                    issues.append(ConfigIssue(str(file), cindex.line(path), str(sid or f"#{i + 1}"),
                                              ".".join(str(p) for p in path), _where_in_journey(raw_check, loc) + msg))
        for i, service in valid:
            if service.id in services or service.id in claimed:
                where = services[service.id].source if service.id in services else claimed[service.id]
                issues.append(ConfigIssue(str(file), cindex.line(("services", i, "id")), service.id, f"services.{i}.id",
                                          f"Dienst-ID bereits vergeben in {where}; IDs müssen eindeutig sein"))
                continue
            resolved: dict[str, CheckSettings] = {}
            raw_checks = cdata["services"][i]["checks"]
            for kind, raw in service.checks.items():
                raw_key = next((k for k in raw_checks if str(k) == kind), kind)
                settings_obj, errors = _resolve_check(kind, raw, catalog.profiles)
                if settings_obj is not None and hasattr(settings_obj, "bind_paths"):
                    try:  # files a check reads (tracker lists, test data): relative to config/, checked now
                        # absolute, wherever the process was started (`--config config/settings.yaml`)
                        settings_obj = settings_obj.bind_paths(settings_file.resolve().parent)
                    except SettingsFileError as exc:
                        settings_obj, errors = None, [(exc.loc, str(exc))]
                errors = _not_in_profile(raw, errors, profile_errors)
                for loc, msg in errors:
                    msg = _where_in_journey(raw_checks.get(raw_key), loc) + msg
                    path = ("services", i, "checks", raw_key) + loc
                    line = cindex.line(path)
                    issues.append(ConfigIssue(str(file), line, service.id, ".".join(str(p) for p in path), msg))
                if settings_obj is not None:
                    resolved[kind] = settings_obj
            for kind, settings_obj in list(resolved.items()):
                wanted = getattr(settings_obj, "after_journey", None)
                if not wanted:
                    continue
                raw_key = next((k for k in raw_checks if str(k) == kind), kind)
                providers = [o for o in resolved.values() if hasattr(o, "prefix")]
                prefix = providers[0].prefix(wanted, str(service.urls[0])) if providers else None
                if prefix is None:
                    path = ("services", i, "checks", raw_key, "after_journey")
                    known = ", ".join(j.name for p in providers for j in getattr(p, "journeys", ())) or "keine"
                    issues.append(ConfigIssue(str(file), cindex.line(path), service.id, ".".join(str(p) for p in path),
                                              f"keine Strecke {wanted!r} in der journey-Prüfung dieses Dienstes "
                                              f"(bekannt: {known}); dort anlegen oder den Namen korrigieren"))
                    del resolved[kind]
                else:
                    resolved[kind] = settings_obj.model_copy(update={"login": prefix})
            services[service.id] = ResolvedService(service, resolved, f"{file}")
    from monitor.kinds import REGISTRY

    if settings.browser.ca_files:  # relative to settings.yaml, each a readable PEM file of CA certificates
        trusted, ca_issues = trusted_ca_files(settings.browser.ca_files, settings_file, index.line)
        issues.extend(ca_issues)
        settings = settings.model_copy(update={"browser": settings.browser.model_copy(update={"ca_files": trusted})})
    browser_users = sorted(s.id for s in services.values()
                           if any(REGISTRY[k].check.pool == "browser" for k in s.checks))
    driver = settings.browser.chromedriver
    if browser_users and settings.browser.remote_url is None and not (driver.is_file() and os.access(driver, os.X_OK)):
        issues.append(ConfigIssue(
            str(settings_file), index.line(("browser", "chromedriver")) if "browser" in (data or {}) else None, None,
            "browser.chromedriver",
            f"{driver} ist kein ausführbarer chromedriver, Browser-Prüfungen von {', '.join(browser_users[:3])} "
            "könnten nicht laufen; Debian-Paket chromium-driver installieren, den Pfad korrigieren oder "
            "browser.remote_url auf ein Selenium Grid setzen"))
    proxy = Proxy.from_environment()
    if settings.proxy is not None:
        try:
            proxy = settings.proxy.resolve(settings_file.parent)
        except ValueError as exc:
            issues.append(ConfigIssue(str(settings_file), index.line(("proxy", "credentials_file")), None,
                                      "proxy.credentials_file", str(exc)))
    from monitor.incidents import load_incident_files

    records, record_issues = load_incident_files(settings.incidents, settings_file.parent, set(services) | set(claimed))
    issues.extend(record_issues)
    if issues:
        raise ConfigError(issues)
    return Config(settings=settings, settings_file=settings_file.resolve(), services=services, example=example,
                  proxy=proxy, incidents=tuple(records))


def json_schema() -> dict[str, Any]:
    """JSON schema of a catalog file, with every check kind's settings."""
    schema = CatalogFile.model_json_schema()
    schema["$defs"] = schema.get("$defs", {})
    from monitor.kinds import REGISTRY

    for kind in REGISTRY:
        sub = kind.check.settings_model.model_json_schema()
        schema["$defs"].update(sub.pop("$defs", {}))
        schema["$defs"][f"{kind.name}_settings"] = sub
    schema["title"] = "egov-monitor catalog"
    return schema


__all__ = [
    "Config",
    "ConfigError",
    "ConfigIssue",
    "Duration",
    "MaintenanceWindow",
    "ResolvedService",
    "Service",
    "Settings",
    "json_schema",
    "load_config",
]


def reference_markdown() -> str:
    """config/REFERENCE.md: every field of settings, catalog and check settings, from the models."""

    def table(title: str, model: type[BaseModel], intro: str = "") -> list[str]:
        lines = [f"## {title}", ""]
        if intro:
            lines += [intro, ""]
        lines += ["| Feld | Typ | Standard | Bedeutung |", "|---|---|---|---|"]
        for name, info in model.model_fields.items():
            ann = getattr(info.annotation, "__name__", None) or str(info.annotation)
            # the same text on every Python: 3.13 names Path's module pathlib._local
            ann = ann.replace("typing.", "").replace("pathlib._local.", "pathlib.").replace("|", "\\|")
            if info.is_required():
                default = "**Pflicht**"
            elif info.default_factory is not None:
                default = f"`{info.default_factory()!r}`" if callable(info.default_factory) else ""  # type: ignore[call-arg]
            else:
                default = f"`{info.default!r}`"
            lines.append(f"| `{name}` | {ann} | {default} | {(info.description or '').replace('|', '/')} |")
        return lines + [""]

    out = ["# Konfigurationsreferenz", "",
           "Erzeugt aus den Modellen mit `egov-monitor reference` (nicht von Hand bearbeiten).",
           "Dauern: `30s`, `5m`, `1h30m`, `250ms` oder Sekunden als Zahl. JSON-Schema: `config/catalog.schema.json`.", ""]
    out += table("settings.yaml", Settings)
    out += table("settings.yaml: store", StoreSettings)
    out += table("settings.yaml: pools", PoolSettings)
    out += table("settings.yaml: canaries", CanarySettings)
    out += table("settings.yaml: browser", BrowserSettings)
    out += table("Katalog: Datei", CatalogFile)
    out += table("Katalog: services[]", Service)
    out += table("Katalog: maintenance[]", MaintenanceWindow,
                 "Einmalig: `start` und `end`. Wiederkehrend: `every` (`day`/`week`), `days` (bei `week`), `at`, `duration`.")
    out += ["## Katalog: profiles", "",
            ("Ein Profil ist wie ein blackbox_exporter-Modul: `kind` (die Prüfart) und deren Einstellungen. "
            "Ein Dienst nennt es unter `checks.<kind>` als Namen (`availability: web-standard`) oder als "
            "`profile:` mit Abweichungen daneben. Vorrang: Standardwerte < Profil < Angaben am Dienst."), ""]
    from monitor.kinds import REGISTRY

    for kind in REGISTRY:
        out += table(f"Prüfart `{kind.name}`", kind.check.settings_model)
    return "\n".join(out)
