"""The HTTP proxy the checks go through (the Landesnetz gateway): settings, the environment
fallback, and which hosts bypass it.

`ProxySettings` is what settings.yaml (`proxy:`) and a profile's override say; `Proxy` is
the resolved, immutable form a probe carries. With nothing configured, HTTPS_PROXY /
HTTP_PROXY / NO_PROXY (or their lower-case forms) apply, as curl and most tools do.
Credentials come from a file (`user:password`), never from the catalog or the URL, and
never appear in evidence or logs.
"""

from __future__ import annotations

import base64
import dataclasses
import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator


class ProxySettings(BaseModel):
    """settings.yaml `proxy:` (and a profile's `proxy:`): an HTTP proxy for HTTP and HTTPS (CONNECT)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(..., description="http://host:port of the proxy (HTTPS goes through it with CONNECT).")
    credentials_file: Path | None = Field(
        None, description="File with `user:password` for the proxy (Basic); relative paths are relative to the settings "
                          "file. Never in the URL or the catalog.")
    no_proxy: list[str] = Field(default_factory=list, description=(
        "Hosts reached directly: a name matches itself and its subdomains (`.land.example` or `land.example`), "
        "an address or network in CIDR form (10.0.0.0/8), `*` for all."))

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError("erwartet http://host:port des Proxys, z. B. http://proxy.land.example:3128")
        if parts.username or parts.password:
            raise ValueError("Zugangsdaten gehören nicht in die Adresse; credentials_file verwenden")
        try:
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError as exc:
            raise ValueError(f"ungültiger Port: {exc}") from exc
        return value

    def resolve(self, base: Path) -> Proxy:
        """The proxy as probes use it; reads the credentials file (relative to `base`).
        Raises ValueError (German) when the file cannot be read or is not `user:password`."""
        parts = urlsplit(self.url)
        auth = None
        if self.credentials_file is not None:
            path = base / self.credentials_file
            try:
                secret = path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ValueError(f"credentials_file {path} nicht lesbar: {exc.strerror}") from exc
            if ":" not in secret:
                raise ValueError(f"credentials_file {path}: erwartet eine Zeile benutzer:passwort")
            auth = _basic(secret)
        return Proxy(parts.hostname or "", parts.port or 8080, auth, tuple(self.no_proxy))


@dataclasses.dataclass(frozen=True, slots=True)
class Proxy:
    """A resolved HTTP proxy: where it is, the Proxy-Authorization value, who bypasses it."""

    host: str
    port: int
    authorization: str | None = dataclasses.field(default=None, repr=False)  # never printed
    no_proxy: tuple[str, ...] = ()

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def applies_to(self, host: str) -> bool:
        """Whether a request to `host` goes through the proxy (not in no_proxy)."""
        return not bypassed(host, self.no_proxy)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Proxy | None:
        """HTTPS_PROXY (else HTTP_PROXY) and NO_PROXY, upper or lower case, as curl reads them;
        credentials in that URL are used (the environment is the operator's own)."""
        env = os.environ if environ is None else environ
        value = next((env[k] for k in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy") if env.get(k)), "")
        if not value:
            return None
        parts = urlsplit(value if "://" in value else "http://" + value)
        if parts.scheme != "http" or not parts.hostname:
            return None
        auth = _basic(f"{unquote(parts.username)}:{unquote(parts.password or '')}") if parts.username else None
        raw = env.get("NO_PROXY") or env.get("no_proxy") or ""
        return cls(parts.hostname, parts.port or 8080, auth, tuple(p.strip() for p in raw.split(",") if p.strip()))


def from_browser_arguments(arguments: list[str] | tuple[str, ...]) -> Proxy | None:
    """The proxy Chromium is told to use (`--proxy-server=http://host:port` and its
    `--proxy-bypass-list`), for a request made beside the browser that must take the same way
    out; None when the browser goes direct. Chromium's own bypass directives (`<-loopback>`,
    `<local>`) are not hosts and are left out; a proxy needing credentials is not reachable
    from flags (the process's `proxy:` with its credentials file is what the HTTP checks use)."""
    server = next((a.split("=", 1)[1] for a in arguments if a.startswith("--proxy-server=")), "")
    if not server:
        return None
    parts = urlsplit(server if "://" in server else "http://" + server)
    if parts.scheme != "http" or not parts.hostname:
        return None
    raw = next((a.split("=", 1)[1] for a in arguments if a.startswith("--proxy-bypass-list=")), "")
    bypass = tuple(e.strip() for e in raw.replace(",", ";").split(";") if e.strip() and not e.strip().startswith("<"))
    return Proxy(parts.hostname, parts.port or 8080, None, bypass)


def bypassed(host: str, no_proxy: tuple[str, ...] | list[str]) -> bool:
    host = host.strip("[]").lower().rstrip(".")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    for entry in no_proxy:
        entry = entry.strip().lower()
        if entry == "*":
            return True
        if ip is not None:
            try:
                if ip in ipaddress.ip_network(entry.strip("[]"), strict=False):
                    return True
            except ValueError:
                pass
            continue
        name = entry.lstrip("*").lstrip(".").split(":")[0]
        if name and (host == name or host.endswith("." + name)):
            return True
    return False


def _basic(user_password: str) -> str:
    return "Basic " + base64.b64encode(user_password.encode()).decode()
