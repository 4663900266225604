"""What a run may use from the process that runs it: the browser pool, the clock, the proxy
and the trust of the HTTP-side probes. Handed to every `run(target, settings, ctx)`; a
check never reaches for a module global."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from checks.browser import BrowserPool, BrowserUnavailable, PoolHolder

if TYPE_CHECKING:
    from checks.locations import Location
    from checks.proxy import Proxy


@dataclasses.dataclass(frozen=True, slots=True)
class CheckContext:
    """What a run may use from the process: the browser pool (browser kinds) and the clock."""

    browser: BrowserPool | PoolHolder | None = None
    today: date | None = None  # fixed in tests; None: the current date
    proxy: Proxy | None = None  # settings.yaml `proxy:` (or the environment's): HTTP checks go through it
    # settings.yaml `browser.hosts` as host rules and `browser.ca_files` as one CA bundle (the system's
    # CAs plus these): the HTTP-side probes reach and trust what the browser reaches and trusts
    host_rules: tuple[tuple[str, str], ...] = ()
    ca_bundle: str | None = None
    # settings.yaml `locations:` by name: where a profile's `locations` probe from
    locations: Mapping[str, Location] = dataclasses.field(default_factory=dict)

    def pool(self) -> BrowserPool:
        """The browser pool of this process; a process without one cannot run browser kinds."""
        if self.browser is None:
            raise BrowserUnavailable("dieser Prozess hat keinen Browser-Pool")
        return self.browser.get() if isinstance(self.browser, PoolHolder) else self.browser

    def date(self) -> date:
        return self.today or datetime.now(UTC).date()
