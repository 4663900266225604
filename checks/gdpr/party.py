"""First or third party: whether a host belongs to the site a page is on (its registrable
domain) or to one of the operator's own domains (`first_party`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

from checks.gdpr.settings import GdprSettings
from checks.hosts import registrable_domain


def in_domains(host: str, domains: list[str] | tuple[str, ...]) -> bool:
    """Whether `host` is one of `domains` or a subdomain of one."""
    return any(host == d or host.endswith("." + d) for d in domains)


def party(host: str, site: str, settings: GdprSettings | None) -> str:
    """'first' when `host` shares the page's registrable domain (or is an operator's own), else 'third'."""
    return "first" if _first(host, site, settings.first_party if settings is not None else ()) else "third"


def _first(host: str, site: str, first_party: Sequence[str]) -> bool:
    host = host.lower().strip(".")
    reg = registrable_domain(host) or host
    return reg == site or host == site or in_domains(host, tuple(first_party))


def first_party_cookie_names(set_cookies: Iterable[tuple[str, str]], start_url: str,
                             first_party: Sequence[str]) -> set[str]:
    """The names among (response URL, `Set-Cookie` line) pairs that a first-party response set
    (the start page's site, or an operator's own domain): what a login's answers store is the
    session the citizen asked for (TDDDG § 25 (2) Nr. 2)."""
    home = (urlsplit(start_url).hostname or "").lower()
    site = registrable_domain(home) or home
    names = set()
    for url, line in set_cookies:
        name = line.split("=", 1)[0].strip()
        if name and _first(urlsplit(url).hostname or home, site, first_party):
            names.add(name)
    return names
