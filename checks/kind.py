"""What every check kind hands to the process that runs it: its implementation record and
the context a run gets.

A kind's package exports one `CheckImplementation`; `monitor/kinds/` pairs it with the
kind's presentation and holds the one registry. A run gets everything it needs from the
process (browser pool, today's date) in a `CheckContext`, never from a module global.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from checks.result import CheckResult, Target
from checks.settings import CheckSettings

if TYPE_CHECKING:
    from checks.browser import BrowserPool, PoolHolder
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

    def pool(self) -> BrowserPool:
        """The browser pool of this process; a process without one cannot run browser kinds."""
        from checks.browser import BrowserPool, BrowserUnavailable

        if self.browser is None:
            raise BrowserUnavailable("dieser Prozess hat keinen Browser-Pool")
        return self.browser if isinstance(self.browser, BrowserPool) else self.browser.get()

    def date(self) -> date:
        return self.today or datetime.now(UTC).date()


@dataclasses.dataclass(frozen=True, slots=True)
class CheckImplementation:
    """One check kind as the scheduler, runner and config see it."""

    kind: str
    settings_model: type[CheckSettings]
    run: Callable[[Target, Any, CheckContext], CheckResult]
    pool: str  # which executor runs it: "http" (cheap, many) or "browser" (few, heavy)
    scope: str = "url"  # "url": one run per URL; "service": one run covers all of a service's URLs
    # "keyed": the settings name the runs (`settings.keys(service_urls)`, e.g. one per journey)
    # `run` without a waiting thread, where the kind can: start(target, settings, ctx, done)
    # calls done(result), or done(exception), when the run ends (checks.availability.start)
    start: Callable[[Target, Any, CheckContext, Callable[[CheckResult | Exception], None]], None] | None = None

    def urls(self, service_urls: Sequence[str], settings: Any = None) -> list[str]:
        """The URLs a run is keyed by: each URL, the start page for a service-wide kind, or what
        the settings name for a keyed kind."""
        if self.scope == "keyed":
            return list(settings.keys(service_urls)) if settings is not None else []
        return list(service_urls[:1]) if self.scope == "service" else list(service_urls)

    def target(self, service_id: str, url: str, service_urls: Sequence[str]) -> Target:
        """What one run looks at: a service-wide kind also gets every URL of the service."""
        return Target(service_id, url, tuple(service_urls) if self.scope == "service" else ())
