"""Outage records and announced maintenance, written by operators.

An incident record says why services were down (its cause category, a German title and
text, a ticket reference) and carries dated updates; a maintenance record announces work
ahead. Records live in the store, so the CLI, the daemon, the distributed scheduler and the
report all see one truth. Teams that review records in git keep them as YAML files
(settings `incidents:`, default `incidents/*.yaml` beside settings.yaml); the daemon loads
them at start and on reload, and an invalid file is reported like an invalid catalog.

The annual report links each outage to the incident record of its service that overlaps it
most; the status page shows what operators wrote, and nothing else, about an outage.
"""

from __future__ import annotations

import dataclasses
import glob
import re
import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

from monitor.config_issues import ConfigError, ConfigIssue, _issues_from, _read_yaml
from monitor.store import Store, metadata

# cause categories (fixed names) and their German labels, in the report's order
CAUSES: dict[str, str] = {
    "own_operation": "eigener Betrieb",
    "service_operator": "Betreiber des Dienstes",
    "base_service": "gemeinsamer Basisdienst",
    "monitor_network": "Netz der Überwachung",
    "external": "extern",
}
NO_CAUSE = "ohne Angabe"
RECORD_TYPES: dict[str, str] = {"incident": "Störung", "maintenance": "Wartung"}
STATUSES: dict[str, str] = {
    "investigating": "wird untersucht", "identified": "Ursache erkannt", "monitoring": "wird beobachtet",
    "resolved": "behoben", "scheduled": "geplant", "in_progress": "läuft", "completed": "abgeschlossen",
}
Cause = Literal["own_operation", "service_operator", "base_service", "monitor_network", "external"]
Status = Literal["investigating", "identified", "monitoring", "resolved", "scheduled", "in_progress", "completed"]
KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"

incidents = sa.Table(
    "incidents", metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("cause", sa.String(32), nullable=True),
    sa.Column("ticket", sa.String(100), nullable=True),
    sa.Column("services", sa.JSON(), nullable=False),
    sa.Column("starts_at", sa.Float(), nullable=False),
    sa.Column("ends_at", sa.Float(), nullable=True),
    sa.Column("source", sa.String(300), nullable=False),
    sa.Column("created_at", sa.Float(), nullable=False),
    sa.Index("ix_incidents_starts", "starts_at"),
)

incident_updates = sa.Table(
    "incident_updates", metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("incident_key", sa.String(64), nullable=False),
    sa.Column("at", sa.Float(), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("text", sa.Text(), nullable=False),
    sa.Index("ix_incident_updates_key", "incident_key", "at"),
)


@dataclasses.dataclass(frozen=True, slots=True)
class Update:
    at: float
    status: str
    text: str

    @property
    def status_label(self) -> str:
        return STATUSES.get(self.status, self.status)


@dataclasses.dataclass(frozen=True, slots=True)
class Incident:
    """An incident (`record_type` incident) or an announced maintenance (`maintenance`); the
    files and the store call the field `kind`."""

    key: str
    record_type: str
    title: str
    cause: str | None
    ticket: str | None
    services: tuple[str, ...]
    starts_at: float
    ends_at: float | None  # incident: when it was resolved (None: open); maintenance: planned end
    source: str = "cli"  # "cli" or "file:<path>"
    updates: tuple[Update, ...] = ()

    @property
    def type_label(self) -> str:
        return RECORD_TYPES.get(self.record_type, self.record_type)

    @property
    def cause_label(self) -> str:
        return CAUSES.get(self.cause or "", NO_CAUSE)

    @property
    def status(self) -> str:
        if self.updates:
            return self.updates[-1].status
        return "scheduled" if self.record_type == "maintenance" else "investigating"

    @property
    def status_label(self) -> str:
        return STATUSES.get(self.status, self.status)

    @property
    def updated_at(self) -> float:
        """The newest update (for an announcement ahead: when it was written, not when it begins)."""
        return max(u.at for u in self.updates) if self.updates else self.starts_at

    @property
    def text(self) -> str:
        """The first update's text: what the record says about the incident as a whole."""
        return self.updates[0].text if self.updates else ""

    def is_open(self, now: float) -> bool:
        if self.record_type == "maintenance":
            return self.ends_at is None or self.ends_at > now
        return self.ends_at is None

    def overlap(self, start: float, end: float) -> float:
        """Seconds this record's span shares with [start, end] (an open record runs on)."""
        stop = self.ends_at if self.ends_at is not None else max(end, self.starts_at)
        return max(0.0, min(end, stop) - max(start, self.starts_at))


def cause_of(records: Sequence[Incident], service_id: str, start: float, end: float) -> Incident | None:
    """The incident record of `service_id` that overlaps [start, end] most (ties: the earlier)."""
    best, best_overlap = None, 0.0
    for r in records:
        if r.record_type != "incident" or service_id not in r.services:
            continue
        shared = r.overlap(start, end) if end > start else (1.0 if r.overlap(start - 1, start + 1) else 0.0)
        if shared > best_overlap:
            best, best_overlap = r, shared
    return best


class IncidentError(ValueError):
    """An operator's request that cannot be done; the message says why and what to do (German)."""


class IncidentBook:
    """The store's incident records."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def all(self, since: float | None = None, until: float | None = None) -> list[Incident]:
        """Records whose span touches [since, until] (open ones run on), by start."""
        query = sa.select(incidents).order_by(incidents.c.starts_at, incidents.c.key)
        if until is not None:
            query = query.where(incidents.c.starts_at <= until)
        if since is not None:
            query = query.where(sa.or_(incidents.c.ends_at.is_(None), incidents.c.ends_at >= since))
        return self._load(query)

    def _load(self, query: sa.Select[Any]) -> list[Incident]:
        with self.store.engine.connect() as conn:
            rows = list(conn.execute(query))
            keys = [r.key for r in rows]
            updates: dict[str, list[Update]] = {k: [] for k in keys}
            for i in range(0, len(keys), 500):
                for u in conn.execute(sa.select(incident_updates)
                                      .where(incident_updates.c.incident_key.in_(keys[i:i + 500]))
                                      .order_by(incident_updates.c.at, incident_updates.c.id)):
                    updates[u.incident_key].append(Update(u.at, u.status, u.text))
        return [Incident(r.key, r.kind, r.title, r.cause, r.ticket, tuple(r.services), r.starts_at, r.ends_at, r.source,
                         tuple(updates[r.key])) for r in rows]

    def fingerprint(self) -> tuple[Any, ...]:
        """Changes whenever a record or an update is written (cheap: for caches of what shows records)."""
        with self.store.engine.connect() as conn:
            a = conn.execute(sa.select(sa.func.count(), sa.func.max(incidents.c.created_at))).one()
            b = conn.execute(sa.select(sa.func.count(), sa.func.max(incident_updates.c.id))).one()
        return (*a, *b)

    def get(self, key: str) -> Incident:
        found = self._load(sa.select(incidents).where(incidents.c.key == key))
        if not found:
            raise IncidentError(f"kein Eintrag {key!r}; `egov-monitor incident list` zeigt die vorhandenen")
        return found[0]

    def next_key(self, at: float, tz: ZoneInfo) -> str:
        day = datetime.fromtimestamp(at, tz).strftime("%Y-%m-%d")
        with self.store.engine.connect() as conn:
            taken = {r.key for r in conn.execute(sa.select(incidents.c.key).where(incidents.c.key.like(f"{day}-%")))}
        n = 1
        while f"{day}-{n}" in taken:
            n += 1
        return f"{day}-{n}"

    def add(self, record: Incident) -> Incident:
        with self.store._locked(), self.store.engine.begin() as conn:
            if conn.execute(sa.select(incidents.c.key).where(incidents.c.key == record.key)).first() is not None:
                raise IncidentError(f"Eintrag {record.key!r} gibt es schon; einen anderen Schlüssel wählen")
            self._insert(conn, record)
        return record

    def add_update(self, key: str, update: Update, *, ends_at: float | None = None) -> Incident:
        record = self.get(key)
        if record.source != "cli":
            raise IncidentError(f"Eintrag {key!r} stammt aus {record.source[5:]}; dort ändern (die Datei gilt)")
        with self.store._locked(), self.store.engine.begin() as conn:
            conn.execute(incident_updates.insert().values(incident_key=key, at=update.at, status=update.status,
                                                          text=update.text))
            if ends_at is not None:
                conn.execute(incidents.update().where(incidents.c.key == key).values(ends_at=ends_at))
        return self.get(key)

    def sync_files(self, records: Iterable[Incident]) -> int:
        """Make the records from files exactly `records` (others from files are removed; CLI ones kept)."""
        wanted = {r.key: r for r in records}
        with self.store._locked(), self.store.engine.begin() as conn:
            existing = {r.key: r.source for r in conn.execute(sa.select(incidents.c.key, incidents.c.source))}
            clash = sorted(k for k in wanted if existing.get(k) == "cli")
            if clash:
                raise IncidentError(f"Schlüssel {', '.join(clash)} schon per CLI vergeben; in der Datei umbenennen")
            stale = [k for k, src in existing.items() if src.startswith("file:")]
            for i in range(0, len(stale), 500):
                chunk = stale[i:i + 500]
                conn.execute(incident_updates.delete().where(incident_updates.c.incident_key.in_(chunk)))
                conn.execute(incidents.delete().where(incidents.c.key.in_(chunk)))
            for record in wanted.values():
                self._insert(conn, record)
        return len(wanted)

    @staticmethod
    def _insert(conn: sa.Connection, r: Incident) -> None:
        conn.execute(incidents.insert().values(key=r.key, kind=r.record_type, title=r.title, cause=r.cause, ticket=r.ticket,
                                               services=list(r.services), starts_at=r.starts_at, ends_at=r.ends_at,
                                               source=r.source, created_at=time.time()))
        for u in r.updates:
            conn.execute(incident_updates.insert().values(incident_key=r.key, at=u.at, status=u.status, text=u.text))


# --------------------------------------------------------------------------- YAML files


class _FileModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UpdateEntry(_FileModel):
    at: AwareDatetime = Field(..., description="When, with offset: 2026-03-04T09:30:00+01:00")
    status: Status
    text: str = Field(..., min_length=1, max_length=4000)


class IncidentEntry(_FileModel):
    """One record in an incidents file."""

    id: str = Field(..., pattern=KEY_PATTERN, description="Stable key, e.g. 2026-03-04-servicekonto.")
    kind: Literal["incident", "maintenance"] = "incident"
    title: str = Field(..., min_length=1, max_length=200, description="German, shown on the status page and report.")
    services: list[str] = Field(..., min_length=1, description="Ids of the affected services.")
    cause: Cause | None = Field(None, description="Required for an incident.")
    ticket: str | None = Field(None, max_length=100)
    start: AwareDatetime
    end: AwareDatetime | None = Field(None, description="Incident: when resolved (unset: open). Maintenance: planned end.")
    updates: list[UpdateEntry] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> IncidentEntry:
        if self.kind == "incident" and self.cause is None:
            raise ValueError("cause fehlt: eine von " + ", ".join(CAUSES))
        if self.kind == "maintenance" and self.end is None:
            raise ValueError("end fehlt: eine angekündigte Wartung braucht ihr geplantes Ende")
        if self.end is not None and self.end < self.start:
            raise ValueError("end liegt vor start")
        return self


class IncidentsFile(_FileModel):
    incidents: list[IncidentEntry] = Field(default_factory=list)


def load_incident_files(patterns: Sequence[str], base: Path, services: set[str]) -> tuple[list[Incident], list[ConfigIssue]]:
    """Every record of the files matching `patterns` (relative to `base`), and every problem."""
    out: list[Incident] = []
    issues: list[ConfigIssue] = []
    seen: dict[str, str] = {}
    for pattern in patterns:
        full = pattern if Path(pattern).is_absolute() else str(base / pattern)
        for name in sorted(glob.glob(full)):
            path = Path(name)
            try:
                data, index = _read_yaml(path)
                parsed = IncidentsFile.model_validate(data or {})
            except ConfigError as exc:
                issues.extend(exc.issues)
                continue
            except ValidationError as exc:
                issues.extend(_issues_from(exc, str(path), index))
                continue
            for i, e in enumerate(parsed.incidents):
                unknown = [s for s in e.services if s not in services]
                if unknown:
                    issues.append(ConfigIssue(str(path), index.line(("incidents", i, "services")), None,
                                              f"incidents.{i}.services",
                                              f"unbekannte Dienst-ID {', '.join(unknown)}; IDs aus dem Katalog verwenden"))
                    continue
                if e.id in seen:
                    issues.append(ConfigIssue(str(path), index.line(("incidents", i, "id")), None, f"incidents.{i}.id",
                                              f"Schlüssel {e.id!r} schon in {seen[e.id]} vergeben; eindeutig wählen"))
                    continue
                seen[e.id] = str(path)
                updates = tuple(sorted((Update(u.at.timestamp(), u.status, u.text) for u in e.updates),
                                       key=lambda u: u.at))
                out.append(Incident(e.id, e.kind, e.title, e.cause, e.ticket, tuple(e.services), e.start.timestamp(),
                                    e.end.timestamp() if e.end else None, f"file:{path.name}", updates))
    return out, issues


def parse_time(text: str, tz: ZoneInfo) -> float:
    """An operator's time: ISO 8601 (local time of the settings when no offset is given) or `jetzt`."""
    if text.strip().lower() in ("jetzt", "now"):
        return time.time()
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2})?)?([+-]\d{2}:?\d{2}|Z)?", text.strip()):
        raise IncidentError(f"Zeit {text!r} nicht lesbar; Form 2026-03-04T09:30 (Ortszeit) oder mit +01:00, oder jetzt")
    moment = datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.timestamp()


def as_dict(record: Incident, tz: ZoneInfo) -> dict[str, Any]:
    """A record for `incident show --json` and the report's annex."""
    def iso(ts: float | None) -> str | None:
        return None if ts is None else datetime.fromtimestamp(ts, tz).isoformat()

    return {"key": record.key, "kind": record.record_type, "title": record.title, "cause": record.cause,
            "ticket": record.ticket, "services": list(record.services), "start": iso(record.starts_at),
            "end": iso(record.ends_at), "source": record.source,
            "updates": [{"at": iso(u.at), "status": u.status, "text": u.text} for u in record.updates]}
