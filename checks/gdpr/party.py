"""First or third party: whether a host belongs to the site a page is on (its registrable
domain) or to one of the operator's own domains (`first_party`)."""

from __future__ import annotations

from checks.gdpr.settings import GdprSettings
from checks.hosts import registrable_domain


def in_domains(host: str, domains: list[str] | tuple[str, ...]) -> bool:
    """Whether `host` is one of `domains` or a subdomain of one."""
    return any(host == d or host.endswith("." + d) for d in domains)


def party(host: str, site: str, settings: GdprSettings | None) -> str:
    """'first' when `host` shares the page's registrable domain (or is an operator's own), else 'third'."""
    host = host.lower().strip(".")
    reg = registrable_domain(host) or host
    if reg == site or host == site or (settings is not None and in_domains(host, settings.first_party)):
        return "first"
    return "third"
