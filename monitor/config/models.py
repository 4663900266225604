"""The models of settings and catalog (pydantic) and the validated `Config`.

A check kind's name is validated against the registry the loader passes in the validation
context (`context={"kinds": registry}`); the catalog knows no kind by name.
"""

from __future__ import annotations

import dataclasses
import hmac
import re
import time as _time
from datetime import date, datetime, time, timedelta
from ipaddress import IPv4Network, IPv6Network, ip_address
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    IPvAnyNetwork,
    ValidationInfo,
    field_serializer,
    field_validator,
    model_validator,
)

from checks.browser import BrowserSettings
from checks.kind import Records, Registry
from checks.locations import Location, LocationSettings
from checks.proxy import Proxy, ProxySettings
from checks.settings import CheckSettings, Duration, PositiveDuration, named_twice  # noqa: F401 - Duration: part of the API

ServiceId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$")]
HostName = Annotated[str, Field(
    pattern=r"^((\*\.)?[a-z0-9]([a-z0-9-]{0,62}\.)*[a-z0-9-]{1,63}|\[[0-9a-f:.]+\])(:[0-9]{1,5})?$",
    description="A host name in lower case, optionally with :port (*.example.de: every host below it)")]
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- settings


def _no_credentials(urls: list[AnyHttpUrl]) -> None:
    """A target's URL is a label of every metric, a key in the store and shown on the status page
    and in the report: a user name or password in it would be published with it."""
    for url in urls:
        if url.username or url.password:
            parts = urlsplit(str(url))
            shown = urlunsplit(parts._replace(netloc="…@" + parts.netloc.rsplit("@", 1)[1]))
            raise ValueError(f"Zugangsdaten in der URL {shown}: sie stünden in Metriken, Ergebnisspeicher, Statusseite "
                             "und Bericht. Die URL ohne benutzer:passwort@ angeben (für den Proxy: proxy.credentials_file)")


class CanarySettings(_Model):
    """Reference targets that tell a monitor-side network failure from a service outage."""

    urls: list[AnyHttpUrl] = Field(default_factory=list, description="Independent reference URLs.")
    min_failing: int = Field(0, ge=0, description="How many must fail to blame the monitor's network; 0 = all of them.")
    interval: PositiveDuration = Field(60.0, description="How often the canaries are probed on their own.")
    timeout: PositiveDuration = Field(5.0)
    ca_file: Path | None = None

    @field_validator("urls")
    @classmethod
    def _plain_urls(cls, urls: list[AnyHttpUrl]) -> list[AnyHttpUrl]:
        _no_credentials(urls)
        return urls


KIND_NAME_MARK = "x-egov-kind-name"  # the schema generator puts the registry's names here (config.schema)


def _known_kind(name: str, info: ValidationInfo) -> str:
    kinds = (info.context or {}).get("kinds")
    if kinds is None:  # a model validated outside the loader (a queued job's service): names were checked there
        return name
    if name not in kinds:
        raise ValueError(f"unbekannte Prüfart {name!r}; bekannt: {', '.join(kinds.names())}")
    return name


# A check kind's name, as registered in the registry of the loading process.
KindName = Annotated[str, AfterValidator(_known_kind), Field(json_schema_extra={KIND_NAME_MARK: True})]


class StoreSettings(_Model):
    url: str = Field("sqlite:///var/egov-monitor.db", description="SQLAlchemy URL; relative SQLite paths are relative to the settings file.")
    raw_retention_days: int = Field(30, ge=1, description="Raw results older than this are deleted; the report reads "
                                    "the hourly and daily rollups, which are kept, as are results that changed a state.")
    raw_retention_days_by_kind: dict[KindName, Annotated[int, Field(ge=1)]] = Field(
        default_factory=dict,
        description="Per check kind, instead of raw_retention_days and the kind's own default "
                    "(availability: 2 days, one result a minute per URL).")
    write_buffer: int = Field(100_000, ge=10, le=10_000_000, description=(
        "Results the daemon keeps in memory while the store does not take writes (restart, full disk); when it is "
        "full the oldest are dropped and counted (egov_store_dropped_results_total). 100 000 are about 2 hours of "
        "1 000 availability targets at 60 s and about 300 MB."))

    def retention_days(self, kind: str, records: Records | None = None) -> int:
        """Days a kind's raw results are kept: this setting, else the kind's own default, else
        raw_retention_days."""
        own = records.raw_retention_days if records is not None else None
        return self.raw_retention_days_by_kind.get(kind, own or self.raw_retention_days)


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
    username: str | None = Field(None, description="Redis ACL user (with password_file); empty: the default user.")
    password_file: Path | None = Field(None, description=(
        "File holding the Redis password (requirepass or the ACL user's), relative to the settings directory; "
        "never in the URL, so it is in no log."))
    ca_file: Path | None = Field(None, description=(
        "With a rediss:// URL: the CA (PEM) the Redis server's certificate must chain to; its name is checked. "
        "Empty: the system's CAs."))
    cert_file: Path | None = Field(None, description="With rediss://: this process's client certificate (PEM), "
                                   "for a Redis with tls-auth-clients yes (its default).")
    key_file: Path | None = Field(None, description="The client certificate's key (PEM).")

    def redis_options(self, base: Path) -> dict[str, Any]:
        """Connection options of the Redis client: the password read from its file, TLS files
        made absolute. Raises ValueError (German, naming the field) when a file cannot be read."""
        options: dict[str, Any] = {}
        if self.username:
            options["username"] = self.username
        if self.password_file is not None:
            path = self.password_file if self.password_file.is_absolute() else base / self.password_file
            try:
                options["password"] = path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ValueError(f"password_file: {path} nicht lesbar ({exc.strerror}); Pfad und Rechte prüfen") from exc
        tls_files = {"ca_file": "ssl_ca_certs", "cert_file": "ssl_certfile", "key_file": "ssl_keyfile"}
        for field, option in tls_files.items():
            value: Path | None = getattr(self, field)
            if value is None:
                continue
            if not self.url.startswith("rediss://"):
                raise ValueError(f"{field}: nur mit TLS wirksam; die URL mit rediss:// beginnen lassen")
            path = value if value.is_absolute() else base / value
            if not path.is_file():
                raise ValueError(f"{field}: {path} nicht gefunden; Pfad prüfen")
            options[option] = str(path)
        if self.url.startswith("rediss://"):
            options["ssl_cert_reqs"] = "required"
        return options


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
    locations: list[LocationSettings] = Field(default_factory=list, description=(
        "Where availability probes run from besides the monitor's own network, e.g. [{name: landesnetz, local: true}, "
        "{name: internet, description: aus dem Internet, proxy: {url: http://egress.example:3128}}], or in distributed "
        "mode {name: internet, worker: true} (workers started with --location internet); a profile's "
        "`locations` lists the ones it uses and its `quorum` how many must see a service down."))
    queue: QueueSettings | None = Field(None, description="Unset: one process does everything (embedded default).")
    web_config: Path | None = Field(None, description=(
        "TLS and basic authentication for this process's own endpoint (/metrics, /healthz, /-/reload, the status "
        "page), a web-config file in the Prometheus exporter-toolkit format (tls_server_config, basic_auth_users "
        "as bcrypt hashes, http_server_config.headers); relative to the settings directory. Read at start; "
        "the public status page and /healthz stay without a password."))
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    reload_from: list[IPvAnyNetwork] = Field(
        default_factory=lambda: list[IPv4Network | IPv6Network]([IPv4Network("127.0.0.0/8"), IPv6Network("::1/128")]),
        description="Addresses POST /-/reload is accepted from without a token (default: this machine only).")
    status_page: StatusPageSettings = Field(default_factory=StatusPageSettings)
    incidents: list[str] = Field(default_factory=lambda: ["incidents/*.yaml"], description=(
        "Incident and maintenance records kept in git (files or globs, relative to this file); "
        "loaded at start and reload, beside those written with `egov-monitor incident`."))
    base_services: dict[ServiceId, list[HostName]] = Field(default_factory=dict, description=(
        "Base service id -> the hosts it answers on (besides its own URLs' hosts), e.g. {servicekonto: "
        "[id.servicekonto.de]}: a failing request of a check to such a host is attributed to that base service."))
    attribution_tolerance: PositiveDuration = Field(120.0, description=(
        "How far a dependent's failure may lie before or after a base service's outage and still count as caused "
        "by it (checks of the two run at different moments of their intervals)."))
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

    @field_validator("locations")
    @classmethod
    def _unique_locations(cls, value: list[LocationSettings]) -> list[LocationSettings]:
        twice = named_twice([loc.name for loc in value])
        if twice:
            raise ValueError(f"Standort mehrfach genannt: {', '.join(twice)}; jeder Name nur einmal")
        return value

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
    depends_on: list[ServiceId] = Field(default_factory=list, description=(
        "Ids of the catalog's base services (Anlage 2) this service runs on, e.g. [servicekonto, epaybl]: its failures "
        "during their outages are attributed to them (docs/report.md, Zuordnung zu Basisdiensten)."))

    @field_validator("depends_on")
    @classmethod
    def _unique_bases(cls, ids: list[str]) -> list[str]:
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"Basisdienst mehrfach angegeben: {', '.join(twice)}")
        return ids

    @field_validator("urls")
    @classmethod
    def _unique_urls(cls, urls: list[AnyHttpUrl]) -> list[AnyHttpUrl]:
        _no_credentials(urls)
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
    locations: dict[str, Location] = dataclasses.field(default_factory=dict)  # settings.yaml `locations:`, resolved
    incidents: tuple[Any, ...] = ()  # monitor.incidents.Incident records from the files of `incidents:`
    web: Any = None  # monitor.webconfig.WebConfig of settings.yaml `web_config:` (None: plain HTTP, no password)
    # the process's kinds (built once at its start): every consumer of this configuration uses them
    kinds: Registry[Any] = dataclasses.field(default_factory=Registry, compare=False, repr=False)
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


