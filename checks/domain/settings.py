"""Settings of the domain and mail checks (a profile's `domain:`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, FilePath, field_validator

from checks.hosts import registrable_domain
from checks.settings import CheckSettings, Duration, PositiveDuration, SettingsFileError

KEY_PREFIX = "dns:"  # a run's key: dns:<registrable domain>
MARKERS = ("dnssec_signed", "dnssec_valid", "caa_present", "ipv6_ns", "ipv6_web", "ipv6_mx", "mx", "spf", "dmarc",
           "dkim", "starttls", "dane")


def domain_of(key: str) -> str:
    return key.removeprefix(KEY_PREFIX)


class DomainSettings(CheckSettings):
    """DNS and e-mail hygiene of the service's registrable domains (BSI TR-03182, TR-03108)."""

    interval: PositiveDuration = Field(21600.0, description="Time between two runs; default every 6 hours.")
    timeout: PositiveDuration = Field(60.0, description="Upper bound for one domain's run, all queries together.")
    query_timeout: PositiveDuration = Field(5.0, description="Upper bound for one DNS query to one server.")
    domains: list[str] = Field(default_factory=list, description=(
        "Domains to check instead of the registrable domains of the service's URLs, e.g. [gemeinde.de]."))
    sends_mail: bool = Field(True, description=(
        "false: the domain sends no e-mail and is checked for the rules of non-sending domains (TR-03182: Null MX, "
        "SPF `v=spf1 -all`, DMARC p=reject with rua)."))
    resolver: list[str] = Field(default_factory=list, description=(
        "DNS servers to ask, e.g. ['192.0.2.53', '[2001:db8::53]:53']; empty: the system's (/etc/resolv.conf). "
        "DNSSEC is validated by the monitor itself from `trust_anchor`; the resolver's own verdict is not trusted."))
    trust_anchor: Path | None = Field(None, description=(
        "DS records of the root's key-signing keys (zone-file lines, as /usr/share/dns/root.ds); empty: IANA's "
        "root anchors shipped with egov-monitor. Relative to config/."))
    dkim_selectors: list[str] = Field(default_factory=list, description=(
        "DKIM selectors to check (e.g. [mail2026, ed]): selectors cannot be discovered in DNS, so the ones the mail "
        "servers sign with must be named; empty: the DKIM marker is not determinable."))
    smtp_port: int = Field(25, ge=1, le=65535, description=(
        "Port the mail hosts' SMTP is reached on for STARTTLS; 25 except in tests (DANE's TLSA records are read at "
        "_25._tcp.<host> whatever this says, RFC 7672)."))
    max_mail_hosts: int = Field(5, ge=1, le=20, description="Mail hosts (MX) probed for STARTTLS at most.")
    share_for: Duration = Field(900.0, ge=0, description=(
        "Services sharing a domain (with the same domain settings) share a run made within this time, e.g. 15m: "
        "the domain's name servers and mail servers are asked once, not once per service; 0: every service runs "
        "its own."))
    ipv6_connect: bool = Field(True, description=(
        "Connect to every name server, web host and mail host over IPv6 (TCP to each AAAA address) besides looking "
        "for the AAAA record; false: AAAA presence only, for a monitor whose own network has no IPv6."))
    ns_port: int = Field(53, ge=1, le=65535, description="Port the name servers are reached on over IPv6 (TCP); 53 "
                                                         "except in tests.")
    web_port: int = Field(443, ge=1, le=65535, description=(
        "HTTPS port of the web hosts (the IPv6 connection) and of mta-sts.<domain> (the MTA-STS policy); 443 except in "
        "tests."))
    ca_file: FilePath | None = Field(None, description=(
        "CA bundle the MTA-STS policy's certificate is verified with, for a private CA; default: browser.ca_files "
        "with the system's CAs."))
    markers: list[Literal[MARKERS]] = Field(list(MARKERS), description="Markers to judge.")  # type: ignore[valid-type]

    @field_validator("domains")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        out = []
        for name in value:
            name = name.strip().strip(".").lower()
            if not name or " " in name or "/" in name or "." not in name:
                raise ValueError(f"{name!r} ist kein Domainname (z. B. gemeinde.de, ohne https:// und Pfad)")
            out.append(name)
        return list(dict.fromkeys(out))

    def worst_case_seconds(self) -> float:
        return self.timeout

    def bind_paths(self, base: Path) -> DomainSettings:
        if self.trust_anchor is None:
            return self
        path = self.trust_anchor if self.trust_anchor.is_absolute() else base / self.trust_anchor
        if not path.is_file():
            raise SettingsFileError(("trust_anchor",), f"{path} nicht gefunden; Pfad prüfen (relativ zu config/)")
        return self.model_copy(update={"trust_anchor": path})

    def keys(self, service_urls: Sequence[str]) -> list[str]:
        """One series per domain: the configured ones, else the registrable domains of the URLs."""
        names = self.domains or [d for u in service_urls if (d := registrable_domain(urlsplit(u).hostname or ""))]
        return [KEY_PREFIX + n for n in dict.fromkeys(names)]
