"""The public status page: current state, 90 days of availability, incidents, maintenance.

Only services marked `public: true` appear, and of them only what operators wrote (name,
incident and maintenance texts) and what the monitor measured (state, availability). No URL,
reason, finding or evidence of a check reaches the page. Served read-only by the daemon and
the distributed scheduler at /status, and written as static files by
`egov-monitor statuspage --out DIR` for an ordinary web server. German, WCAG 2.1 AA, no
JavaScript; every chart has its numbers as text beside it and as a table on the service page.

A day's availability is the share of successful checks that day (up or degraded over up,
degraded and down; unknown and maintenance are not counted, as in the report), coloured by
the report's traffic-light rule against the service's target.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from email.utils import formatdate
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from jinja2 import Environment, FileSystemLoader, select_autoescape

from monitor import __version__
from monitor.config import Config, ResolvedService
from monitor.dependencies import Dependencies, Impairment, live_impairments
from monitor.incidents import Incident, IncidentBook
from monitor.report.format import fmt_pct
from monitor.report.model import GROUPS
from monitor.store import Store

log = logging.getLogger(__name__)
TEMPLATES = Path(__file__).parent / "templates"
DAYS = 90
RECENT_DAYS = 30  # resolved incidents shown this long
MAINTENANCE_AHEAD_DAYS = 14  # catalog maintenance windows announced this far ahead
STATES = {  # state -> (German label, CSS class); unknown also when the newest result is stale
    "up": ("verfügbar", "green"), "degraded": ("eingeschränkt", "yellow"), "down": ("gestört", "red"),
    "maintenance": ("Wartung", "blue"), "unknown": ("keine aktuellen Daten", "grey"),
    "none": ("nicht überwacht", "grey"),
}
_RANK = {"down": 5, "degraded": 4, "maintenance": 3, "up": 2, "unknown": 1}


@dataclasses.dataclass(frozen=True, slots=True)
class Day:
    day: date
    availability: float | None
    light: str  # green, yellow, red, grey (no data), blue (maintenance only)

    @property
    def label(self) -> str:
        return {"green": "im Ziel", "yellow": "knapp unter dem Ziel", "red": "unter dem Ziel",
                "grey": "keine Daten", "blue": "Wartung"}[self.light]


@dataclasses.dataclass(slots=True)
class ServiceStatus:
    id: str
    name: str
    target: float
    state: str
    since: float | None
    days: list[Day]
    availability: float | None  # over the shown days
    incidents: list[Incident] = dataclasses.field(default_factory=list)
    cause: str = ""  # why it is impaired when a base service is: "Servicekonto gestört"
    cause_link: str = ""  # where that is told, relative to the overview ("#vorfall-KEY", "dienst/ID.html")
    note: str = ""  # a partial outage: "aus dem Internet nicht erreichbar" (settings.yaml's location descriptions)

    @property
    def state_label(self) -> str:
        return STATES[self.state][0]

    @property
    def state_class(self) -> str:
        return STATES[self.state][1]

    @property
    def runs(self) -> list[tuple[str, int, int]]:
        """(light, first day index, number of days): the bar drawn with one rectangle per run."""
        out: list[tuple[str, int, int]] = []
        for i, d in enumerate(self.days):
            if out and out[-1][0] == d.light:
                out[-1] = (d.light, out[-1][1], out[-1][2] + 1)
            else:
                out.append((d.light, i, 1))
        return out

    def count(self, light: str) -> int:
        return sum(1 for d in self.days if d.light == light)

    @property
    def bar_label(self) -> str:
        return (f"Verfügbarkeit der letzten {len(self.days)} Tage: {self.count('green')} Tage im Ziel, "
                f"{self.count('yellow')} knapp darunter, {self.count('red')} darunter, "
                f"{self.count('grey') + self.count('blue')} ohne Daten oder Wartung")


@dataclasses.dataclass(slots=True)
class Announcement:
    """A maintenance ahead or in progress: an operator's record or a catalog window."""

    title: str
    services: list[str]  # names
    start: float
    end: float
    text: str
    key: str | None = None


@dataclasses.dataclass(slots=True)
class StatusData:
    title: str
    intro: str
    generated_at: float
    newest_result: float | None
    groups: list[tuple[str, list[ServiceStatus]]]
    open_incidents: list[Incident]
    recent_incidents: list[Incident]
    maintenance: list[Announcement]
    names: dict[str, str]  # public service id -> name
    first_day: date
    last_day: date

    @property
    def services(self) -> list[ServiceStatus]:
        return [s for _label, members in self.groups for s in members]

    @property
    def disturbed(self) -> list[ServiceStatus]:
        return [s for s in self.services if s.state in ("down", "degraded")]


def public_services(config: Config) -> list[ResolvedService]:
    return [s for s in config.services.values() if s.service.public]


@dataclasses.dataclass(frozen=True, slots=True)
class Current:
    """A target's newest availability state: the `latest` row without its stored result,
    which the page does not need (reading and parsing those cost the page most of its time)."""

    service_id: str
    url: str
    state: str
    started_at: float
    since: float


def status_kind(config: Config) -> Any:
    """The kind whose results are a service's state on the page (the registry's status kind)."""
    name = config.kinds.status_kind()
    return config.kinds[name] if name is not None else None


def read_current(config: Config, store: Store) -> list[Current]:
    kind = status_kind(config)
    return [Current(*row) for row in store.current(kind.name)] if kind is not None else []


def current_states(config: Config, rows: list[Current], now: float) -> dict[str, tuple[str, float | None]]:
    """Per public service: its state (worst over its URLs in the catalog; unknown when stale)
    and since when. A URL no longer in the catalog does not count."""
    public = {s.id: (s, set(s.urls)) for s in public_services(config)}
    kind = config.kinds.status_kind()
    out: dict[str, tuple[str, float | None]] = {}
    for row in rows:
        svc, urls = public.get(row.service_id, (None, set()))
        if svc is None or row.url not in urls or kind not in svc.checks:
            continue
        interval = svc.checks[kind].interval
        stale = now - row.started_at > 3 * interval + 60
        state = "unknown" if stale else row.state
        since = None if stale else row.since
        cur = out.get(row.service_id)
        if cur is None or _RANK[state] > _RANK[cur[0]]:
            out[row.service_id] = (state, since)
    moment = datetime.fromtimestamp(now, UTC)
    for sid, (svc, _urls) in public.items():
        if kind not in svc.checks:
            out[sid] = ("none", None)
        elif any(w.active_at(moment, config.settings.tz) for w in svc.service.maintenance):
            out[sid] = ("maintenance", out.get(sid, ("", None))[1])
        else:
            out.setdefault(sid, ("unknown", None))
    return out


def _partial_outages(config: Config, store: Store, rows: list[Current],
                     states: dict[str, tuple[str, float | None]]) -> dict[str, str]:
    """Per degraded public service whose newest result is a partial outage: which locations it
    is not reachable from, in the words of settings.yaml's `locations:` (never the result's)."""
    kind = config.kinds.status_kind()
    keys = [(r.service_id, r.url) for r in rows if r.state == "degraded" and states.get(r.service_id, ("",))[0]
            == "degraded"]
    if kind is None or not keys or not config.locations:
        return {}
    out: dict[str, str] = {}
    for (sid, _url), result in store.latest_results(kind, keys).items():
        names = (result.evidence.get("partial") or {}).get("locations") or ()
        described = [config.locations[n].description for n in names if n in config.locations]
        if described and sid not in out:
            out[sid] = f"{' und '.join(described)} nicht erreichbar"
    return out


def _day_counts(config: Config, store: Store, ids: list[str], first: int, last: int) -> dict[tuple[str, int], list[int]]:
    """(service, yyyymmdd) -> [good, down, maintenance] over the service's series of the status kind."""
    kind = config.kinds.status_kind()
    return store.day_counts(kind, ids, first, last) if kind is not None else {}


class History:
    """The days before today, computed once and reused until the day changes or `keep`
    seconds pass (late results of past days are rare): a rendering then reads only today."""

    def __init__(self, keep: float = 600.0) -> None:
        self.keep = keep
        self._key: tuple[Any, ...] | None = None
        self._until = 0.0
        self._past: dict[str, tuple[list[Day], int, int]] = {}  # service -> days, good, bad

    def past(self, config: Config, store: Store, days: list[date], now: float) -> dict[str, tuple[list[Day], int, int]]:
        public = public_services(config)
        key = (id(config), days[0], days[-1])
        if key != self._key or now >= self._until:
            counts = _day_counts(config, store, [s.id for s in public], _ymd(days[0]), _ymd(days[-1]))
            self._past = _days(config, public, counts, days)
            self._key, self._until = key, now + self.keep
        return self._past


def _ymd(d: date) -> int:
    return d.year * 10000 + d.month * 100 + d.day


def _days(config: Config, public: list[ResolvedService], counts: dict[tuple[str, int], list[int]],
          days: list[date]) -> dict[str, tuple[list[Day], int, int]]:
    kind = status_kind(config)
    out = {}
    for svc in public:
        target = svc.service.availability_target
        shown, good, bad = [], 0, 0
        for d in days:
            c = counts.get((svc.id, _ymd(d)))
            value = None if c is None or c[0] + c[1] == 0 else 100.0 * c[0] / (c[0] + c[1])
            color = ("blue" if c and c[2] else "grey") if value is None or kind is None else kind.status_color(value, target)
            shown.append(Day(d, value, color))
            if c is not None:
                good, bad = good + c[0], bad + c[1]
        out[svc.id] = (shown, good, bad)
    return out


def collect(config: Config, store: Store, rows: list[Current], now: float | None = None,
            history: History | None = None) -> StatusData:
    """Everything the page shows. `history`: the days before today, kept between renderings."""
    now = time.time() if now is None else now
    tz = config.settings.tz
    public = public_services(config)
    names = {s.id: s.service.name for s in public}
    states = current_states(config, rows, now)
    deps = Dependencies.of(config)
    # dependents impaired by a base service (not failing before it): "eingeschränkt: Servicekonto gestört"
    explained: dict[str, Impairment] = {}
    bases_of_public: dict[str, list[str]] = {}  # base service -> its public dependents
    for sid in names:
        for base in deps.bases.get(sid, ()):
            bases_of_public.setdefault(base, []).append(sid)
    if bases_of_public:
        state_rows = [(r.service_id, r.url, r.state, r.since) for r in rows]
        for dependent, impairment, inhibit in live_impairments(config, deps, state_rows, now):
            if inhibit and dependent in names:
                explained.setdefault(dependent, impairment)
        names |= {b: config.services[b].service.name for b in bases_of_public if b in config.services}
    partial = _partial_outages(config, store, rows, states)
    today = datetime.fromtimestamp(now, tz).date()
    days = [today - timedelta(days=DAYS - 1 - i) for i in range(DAYS)]
    past = (history or History(keep=0.0)).past(config, store, days[:-1], now)
    current = _days(config, public, _day_counts(config, store, list(names), _ymd(today), _ymd(today)), [today])
    records = [r for r in IncidentBook(store).all(since=now - 86400 * max(DAYS, RECENT_DAYS))
               if any(s in names for s in r.services)]
    by_service: dict[str, list[Incident]] = {}
    for r in records:
        for sid in dict.fromkeys([*r.services, *(d for b in r.services for d in bases_of_public.get(b, ()))]):
            by_service.setdefault(sid, []).append(r)
    groups: list[tuple[str, list[ServiceStatus]]] = []
    for category, label in GROUPS:
        members = []
        for svc in sorted((s for s in public if s.service.category == category), key=lambda s: s.service.name.lower()):
            shown, good, bad = past.get(svc.id, ([], 0, 0))
            now_days, now_good, now_bad = current[svc.id]
            good, bad = good + now_good, bad + now_bad
            state, since = states.get(svc.id, ("unknown", None))
            cause = link = ""
            imp = explained.get(svc.id)
            if imp is not None and state not in ("maintenance", "none"):
                base_name = names.get(imp.base, imp.base)
                state, since = "degraded", imp.since or since
                cause = f"Wartung von {base_name}" if imp.state == "maintenance" else f"{base_name} gestört"
                told = next((r for r in records if imp.base in r.services and r.is_open(now)), None)
                link = (f"#vorfall-{told.key}" if told is not None
                        else f"dienst/{imp.base}.html" if config.services[imp.base].service.public else "")
            members.append(ServiceStatus(svc.id, svc.service.name, svc.service.availability_target, state, since,
                                         shown + now_days, 100.0 * good / (good + bad) if good + bad else None,
                                         by_service.get(svc.id, []), cause, link,
                                         partial.get(svc.id, "") if state == "degraded" and not cause else ""))
        if members:
            groups.append((label, members))
    incidents = [r for r in records if r.record_type == "incident"]
    open_incidents = sorted((r for r in incidents if r.is_open(now)), key=lambda r: -r.starts_at)
    recent = sorted((r for r in incidents if not r.is_open(now) and r.ends_at is not None
                     and r.ends_at >= now - 86400 * RECENT_DAYS), key=lambda r: -(r.ends_at or 0))
    def affected(ids: Iterable[str]) -> list[str]:
        """Names of the services `ids` and of the public services that depend on them."""
        out = dict.fromkeys([*ids, *(d for b in ids for d in bases_of_public.get(b, ()))])
        return [names[s] for s in out if s in names]

    maintenance = [Announcement(r.title, affected(r.services), r.starts_at, r.ends_at or now, r.text, r.key)
                   for r in records if r.record_type == "maintenance" and r.is_open(now)]
    ahead = datetime.fromtimestamp(now + 86400 * MAINTENANCE_AHEAD_DAYS, UTC)
    announced = {s.id: s for s in public} | {b: config.services[b] for b in bases_of_public if b in config.services}
    for svc in announced.values():  # a base service's windows are its dependents' too
        for w in svc.service.maintenance:
            for s, e in w.intervals(datetime.fromtimestamp(now, UTC), ahead, tz)[:1]:  # the next occurrence
                maintenance.append(Announcement(w.reason or "Wartungsfenster", affected([svc.id]), s.timestamp(),
                                                e.timestamp(), ""))
    maintenance.sort(key=lambda a: (a.start, a.title))
    newest = max((r.started_at for r in rows if r.service_id in names), default=None)
    settings = config.settings.status_page
    return StatusData(settings.title, settings.intro, now, newest, groups, open_incidents, recent, maintenance, names,
                      days[0], days[-1])


# --------------------------------------------------------------------------- rendering


def environment(config: Config) -> Environment:
    """The page's Jinja environment: built (and its templates compiled) once per timezone."""
    return _environment(config.settings.timezone)


@functools.cache
def _environment(timezone: str) -> Environment:
    tz = ZoneInfo(timezone)
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html", "j2"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update(
        pct=lambda v, digits=3: fmt_pct(v, digits),
        time=lambda ts: "–" if ts is None else datetime.fromtimestamp(ts, tz).strftime("%d.%m.%Y, %H:%M Uhr"),
        iso=lambda ts: datetime.fromtimestamp(ts, tz).isoformat(timespec="seconds"),
        date=lambda d: d.strftime("%d.%m.%Y"),
        names=lambda ids, names: ", ".join(names[i] for i in ids if i in names))
    return env


def render_index(env: Environment, data: StatusData) -> str:
    return env.get_template("index.html.j2").render(d=data, version=__version__)


def render_service(env: Environment, data: StatusData, service: ServiceStatus) -> str:
    return env.get_template("service.html.j2").render(d=data, s=service, version=__version__)


@functools.cache
def _css() -> str:
    return (TEMPLATES / "status.css").read_text(encoding="utf-8")


def render_feed(config: Config, data: StatusData) -> str:
    """Atom (RFC 4287): one entry per incident or maintenance record of a public service."""
    tz = config.settings.tz
    base = str(config.settings.status_page.base_url or "")
    atom = "http://www.w3.org/2005/Atom"
    ET.register_namespace("", atom)

    def el(parent: ET.Element, name: str, text: str | None = None, **attrs: str) -> ET.Element:
        node = ET.SubElement(parent, f"{{{atom}}}{name}", attrs)
        if text is not None:
            node.text = text
        return node

    def stamp(ts: float) -> str:
        return datetime.fromtimestamp(ts, tz).isoformat(timespec="seconds")

    records = sorted({r.key: r for r in [*data.open_incidents, *data.recent_incidents,
                                         *(i for s in data.services for i in s.incidents)]}.values(),
                     key=lambda r: -r.updated_at)
    feed = ET.Element(f"{{{atom}}}feed", {"{http://www.w3.org/XML/1998/namespace}lang": "de"})
    if base:
        feed.set("{http://www.w3.org/XML/1998/namespace}base", base if base.endswith("/") else base + "/")
    el(feed, "id", f"tag:egov-monitor,2026:status/{hashlib.sha1(data.title.encode()).hexdigest()[:12]}")
    el(feed, "title", data.title)
    el(feed, "subtitle", "Störungen und Wartungen der Online-Dienste")
    el(feed, "updated", stamp(max([data.generated_at if not records else records[0].updated_at])))
    el(feed, "link", rel="alternate", type="text/html", href="index.html")
    el(feed, "link", rel="self", type="application/atom+xml", href="feed.xml")
    el(feed, "generator", "egov-monitor", version=__version__)
    for r in records:
        entry = el(feed, "entry")
        el(entry, "id", f"tag:egov-monitor,2026:vorfall/{r.key}")
        el(entry, "title", f"{r.type_label}: {r.title} ({r.status_label})")
        el(entry, "updated", stamp(r.updated_at))
        el(entry, "published", stamp(r.starts_at))
        author = el(entry, "author")
        el(author, "name", "Betrieb")
        el(entry, "link", rel="alternate", type="text/html", href=f"index.html#vorfall-{r.key}")
        lines = [f"Betroffen: {', '.join(data.names[s] for s in r.services if s in data.names)}",
                 f"Beginn: {stamp(r.starts_at)}" + (f", Ende: {stamp(r.ends_at)}" if r.ends_at else "")]
        lines += [f"{stamp(u.at)} ({u.status_label}): {u.text}" for u in r.updates]
        el(entry, "content", "\n".join(lines), type="text")
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(feed, encoding="unicode") + "\n"


def export(config: Config, store: Store, out: Path, now: float | None = None) -> list[Path]:
    """Write the status page as static files into `out`: index.html, status.css, feed.xml, dienst/<id>.html."""
    data = collect(config, store, read_current(config, store), now)
    env = environment(config)
    (out / "dienst").mkdir(parents=True, exist_ok=True)
    written = [out / "index.html", out / "feed.xml", out / "status.css"]
    written[0].write_text(render_index(env, data), encoding="utf-8")
    written[1].write_text(render_feed(config, data), encoding="utf-8")
    written[2].write_text(_css(), encoding="utf-8")
    for s in data.services:
        path = out / "dienst" / f"{s.id}.html"
        path.write_text(render_service(env, data, s), encoding="utf-8")
        written.append(path)
    return written


# --------------------------------------------------------------------------- serving


HEADERS = {  # the page follows what our own security check asks of a service
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; "
                               "form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


@dataclasses.dataclass(frozen=True, slots=True)
class Page:
    body: bytes
    gzipped: bytes  # compressed once per rendering: most clients accept gzip
    ctype: str
    etag: str


def _make_page(text: str, ctype: str) -> Page:
    body = text.encode()
    return Page(body, gzip.compress(body, 6, mtime=0), f"{ctype}; charset=utf-8",
                '"' + hashlib.sha1(body).hexdigest()[:20] + '"')


@dataclasses.dataclass(frozen=True, slots=True)
class Response:
    code: int
    body: bytes
    headers: dict[str, str]


class StatusSite:
    """/status of a running process. One thread renders (the store read, the overview and
    the feed) while concurrent requests get the previous rendering; a rendering is reused for
    `cache_seconds`, and replaced as soon as a public service's state changes or a record is
    written, but at most once every `MIN_GAP` seconds, so a flapping catalog cannot keep the
    process rendering. ETags are computed once per rendering."""

    MIN_GAP = 1.0

    def __init__(self, config: Callable[[], Config], store: Store, reread: float = 1.0) -> None:
        """`reread`: read the current states from the store at most this often (seconds)."""
        self._config, self._store, self._reread = config, store, reread
        self._lock = threading.Condition()
        self._key: tuple[Any, ...] | None = None
        self._expires = 0.0
        self._data: StatusData | None = None
        self._pages: dict[str, Page] = {}
        self._modified = 0.0
        self._rendering = False
        self._rows_cache: tuple[float, list[Current]] | None = None
        self._history = History()
        self._checked = 0.0  # when the states and records were last compared with the rendering's

    def _rows(self, now: float) -> list[Current]:
        """The current states, read at most every `reread` seconds."""
        with self._lock:
            if self._rows_cache is None or now - self._rows_cache[0] >= self._reread:
                self._rows_cache = (now, read_current(self._config(), self._store))
            return self._rows_cache[1]

    def _snapshot(self) -> tuple[Config, StatusData]:
        config = self._config()
        now = time.time()
        with self._lock:  # compared at most once per MIN_GAP, never during a rendering: most requests cost a lookup
            if self._data is not None and (self._rendering or now - self._checked < self.MIN_GAP):
                return config, self._data
            self._checked = now
        rows = self._rows(now)
        states = current_states(config, rows, now)
        try:
            key = (id(config), tuple(sorted((sid, st) for sid, (st, _since) in states.items())),
                   IncidentBook(self._store).fingerprint())
        except sa.exc.SQLAlchemyError as exc:
            with self._lock:
                if self._data is None:
                    raise
                log.warning("status page: store not readable (%s); the last rendering is served", exc)
                return config, self._data
        with self._lock:
            while self._data is None and self._rendering:
                self._lock.wait()
            current = self._data is not None and key == self._key and now < self._expires
            if self._data is not None and (current or self._rendering or now - self._modified < self.MIN_GAP):
                return config, self._data
            self._rendering = True
        try:
            data = collect(config, self._store, rows, now, self._history)
            env = environment(config)
            pages = {"index.html": _make_page(render_index(env, data), "text/html"),
                     "feed.xml": _make_page(render_feed(config, data), "application/atom+xml"),
                     "status.css": _make_page(_css(), "text/css")}
        except sa.exc.SQLAlchemyError as exc:
            with self._lock:
                self._rendering = False
                self._lock.notify_all()
                if self._data is None:
                    raise
                log.warning("status page: store not readable (%s); the last rendering is served", exc)
                return config, self._data
        except BaseException:
            with self._lock:
                self._rendering = False
                self._lock.notify_all()
            raise
        with self._lock:
            self._data, self._key, self._pages, self._modified = data, key, pages, now
            self._expires = now + config.settings.status_page.cache_seconds
            self._rendering = False
            self._lock.notify_all()
            return config, data

    def _page(self, config: Config, data: StatusData, name: str) -> Page | None:
        with self._lock:
            cached = self._pages.get(name) if self._data is data else None
        if cached is not None:
            return cached
        if not (name.startswith("dienst/") and name.endswith(".html")):
            return None
        found = [s for s in data.services if s.id == name[7:-5]]
        if not found:
            return None
        page = _make_page(render_service(environment(config), data, found[0]), "text/html")
        with self._lock:
            if self._data is data:
                self._pages[name] = page
        return page

    def respond(self, path: str, if_none_match: str | None = None, accept_encoding: str | None = None) -> Response:
        """The answer to GET `path` (below /status)."""
        config = self._config()
        if not config.settings.status_page.enabled:
            return Response(404, b"not found\n", {"Content-Type": "text/plain; charset=utf-8"})
        if path in ("/status", ""):
            return Response(301, b"", {"Location": "/status/"})
        name = path.removeprefix("/status/") or "index.html"
        config, data = self._snapshot()
        page = self._page(config, data, name)
        if page is None:
            return Response(404, b"Seite nicht gefunden\n", {"Content-Type": "text/plain; charset=utf-8"})
        ttl = int(config.settings.status_page.cache_seconds)
        headers = {"Content-Type": page.ctype, "ETag": page.etag, "Cache-Control": f"public, max-age={ttl}",
                   "Vary": "Accept-Encoding", "Last-Modified": formatdate(self._modified, usegmt=True), **HEADERS}
        if if_none_match is not None and page.etag in [t.strip() for t in if_none_match.split(",")]:
            return Response(304, b"", headers)
        if accept_encoding and "gzip" in accept_encoding.lower():
            return Response(200, page.gzipped, {**headers, "Content-Encoding": "gzip"})
        return Response(200, page.body, headers)
