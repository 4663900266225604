"""Where probes run from: the monitor's own network and other vantage points (issue 39).

settings.yaml `locations:` names them; a profile lists the ones its checks run from. A
location is the process's own network (`local`, with the process's proxy as ever), an HTTP
proxy in another zone (an egress to the internet, a partner's network), or, in distributed mode,
the network of the workers started with `--location NAME` (`worker`). Each location votes on a
target's state; the profile's quorum turns the votes into the verdict (`checks.availability`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from checks.proxy import Proxy, ProxySettings

LOCATION_NAME = r"^[a-z][a-z0-9_-]{0,31}$"


class LocationSettings(BaseModel):
    """One entry of settings.yaml `locations:`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(..., pattern=LOCATION_NAME, description="Short name, e.g. landesnetz or internet (a metric label).")
    description: str = Field("", max_length=80, description=(
        "German, for the status page and the report: where from, e.g. 'aus dem Internet' (\"eingeschränkt (aus "
        "dem Internet nicht erreichbar)\"). Default: 'vom Standort <name>'."))
    local: bool = Field(False, description="The network of the monitor's own process (with settings.yaml `proxy:`).")
    proxy: ProxySettings | None = Field(None, description="An HTTP proxy in the other zone: probes go through it.")
    worker: bool = Field(False, description=(
        "Distributed mode: the network of the workers started with `egov-monitor worker --location NAME`; only "
        "they probe from here. With none of them alive the location has no vote (never a `down`)."))

    @model_validator(mode="after")
    def _one_way(self) -> LocationSettings:
        if [self.local, self.proxy is not None, self.worker].count(True) != 1:
            raise ValueError("ein Standort ist genau eines von `local: true` (das eigene Netz), `proxy:` (ein Proxy in "
                             "der anderen Zone) oder `worker: true` (Worker mit --location, verteilter Betrieb)")
        return self

    def resolve(self, base: Path) -> Location:
        """Raises ValueError (German) when the proxy's credentials file cannot be read."""
        return Location(self.name, self.description or f"vom Standort {self.name}",
                        None if self.proxy is None else self.proxy.resolve(base), self.worker)


@dataclasses.dataclass(frozen=True, slots=True)
class Location:
    name: str
    description: str
    proxy: Proxy | None  # None: the process's own network (and its proxy, as without locations)
    worker: bool = False  # only workers started with --location NAME probe from here (distributed mode)

    @property
    def local(self) -> bool:
        return self.proxy is None


class LocationUnavailable(Exception):
    """A location gave no result for a run (distributed mode: none of its workers took the job in
    time): it has no vote, as a location that cannot probe."""


def location_queue(pool: str, location: str) -> str:
    """The queue of a worker location's jobs (distributed mode): only its workers consume it."""
    return f"{pool}@{location}"


@dataclasses.dataclass(frozen=True, slots=True)
class Verdict:
    """What the locations' votes say: `down` (at least the quorum of those that could tell saw
    the service down), `partial` (down from some, fewer than the quorum), `unknown` (none could
    tell) or `up`; with the locations on each side."""

    outcome: str  # down, partial, up, unknown
    down: tuple[str, ...]
    known: tuple[str, ...]
    unknown: tuple[str, ...]


def combine_votes(votes: list[tuple[str, str]], quorum: int) -> Verdict:
    """`votes`: (location, state) with state up, degraded, down or unknown. A location that
    could not probe (unknown) has no vote: the quorum is taken of those that could, so missing
    votes never make a service down, and one location left can still tell."""
    known = tuple(n for n, state in votes if state != "unknown")
    unknown = tuple(n for n, state in votes if state == "unknown")
    down = tuple(n for n, state in votes if state == "down")
    if not known:
        return Verdict("unknown", (), (), unknown)
    if len(down) >= min(quorum, len(known)):
        return Verdict("down", down, known, unknown)
    return Verdict("partial" if down else "up", down, known, unknown)
