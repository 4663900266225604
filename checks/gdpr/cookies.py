"""Cookie attempts: every cookie a page tries to set, whether the browser stored it or not.

§ 25 TDDDG is about the site's attempt to store information on the visitor's device, so the
DSGVO check counts attempts, not only what this Chromium kept: another browser, or the same
cookie sent with `SameSite=None; Secure`, would have stored it. Two sources, as the EDPS
website-evidence-collector records them:

- response headers: every `Set-Cookie` line of every response (DevTools
  `Network.responseReceivedExtraInfo`), with Chromium's reasons when it refused one
  (`blockedCookies`);
- scripts: every assignment to `document.cookie`, in every frame (cross-site frames
  included), recorded by an init script that wraps the setter before the page's own code
  runs. Whether such a cookie was stored is read off the cookie jar afterwards; Chromium
  gives no reason for a refused script cookie, so ours is inferred and marked as such.
"""

from __future__ import annotations

import dataclasses
import email.utils
import secrets
import time
from datetime import UTC, datetime
from typing import Any

MAX_ATTEMPTS = 1000  # per page; more are counted, not kept
MAX_LINE = 4096  # characters of one cookie line kept

# Chromium's CookieBlockedReason (DevTools protocol) in operators' words.
REFUSAL_REASONS_DE = {
    "SameSiteUnspecifiedTreatedAsLax": "ohne SameSite-Attribut als Lax behandelt (Drittanbieter-Kontext)",
    "SchemefulSameSiteUnspecifiedTreatedAsLax": "ohne SameSite-Attribut als Lax behandelt (Drittanbieter-Kontext)",
    "SameSiteLax": "SameSite=Lax im Drittanbieter-Kontext",
    "SchemefulSameSiteLax": "SameSite=Lax im Drittanbieter-Kontext",
    "SameSiteStrict": "SameSite=Strict im Drittanbieter-Kontext",
    "SchemefulSameSiteStrict": "SameSite=Strict im Drittanbieter-Kontext",
    "SameSiteNoneInsecure": "SameSite=None ohne Secure",
    "SecureOnly": "Secure-Cookie über unverschlüsselte Verbindung",
    "ThirdPartyPhaseout": "Drittanbieter-Cookies im Browser abgeschaltet",
    "ThirdPartyBlockedInFirstPartySet": "Drittanbieter-Cookies im Browser abgeschaltet",
    "UserPreferences": "Einstellung des Browsers",
    "InvalidDomain": "ungültige Domain",
    "InvalidPrefix": "ungültiges __Secure-/__Host-Präfix",
    "DisallowedCharacter": "unzulässiges Zeichen",
    "SyntaxError": "Syntaxfehler",
    "OverwriteSecure": "würde ein Secure-Cookie überschreiben",
    "NameValuePairExceedsMaxSize": "zu groß",
}


@dataclasses.dataclass(slots=True)
class CookieAttempt:
    """One try to set a cookie, from a response header or a script."""

    name: str
    domain: str  # the Domain attribute without its dot, or the setting host (host-only cookie)
    path: str
    expires: float  # epoch seconds; -1 for a session cookie
    same_site: str  # "Strict", "Lax", "None" or "" (not set)
    secure: bool
    http_only: bool
    source: str  # "header", "script" or "jar" (stored, but no attempt was seen)
    set_by: str = ""  # URL of the response, or of the frame whose script set it
    stored: bool = True
    refused: list[str] = dataclasses.field(default_factory=list)  # Chromium's reasons, or an inferred one
    reason_inferred: bool = False

    @property
    def key(self) -> tuple[str, str, str]:
        return self.name, self.domain, self.path


def _expiry(attrs: dict[str, str], now: float) -> float | None:
    """Epoch seconds, -1 for a session cookie, None for a deletion (expiry in the past)."""
    if "max-age" in attrs:
        try:
            seconds = int(attrs["max-age"])
        except ValueError:
            seconds = None
        if seconds is not None:
            return None if seconds <= 0 else now + seconds
    if "expires" in attrs:
        try:
            when = email.utils.parsedate_to_datetime(attrs["expires"]).timestamp()
        except (TypeError, ValueError, IndexError):
            return -1.0
        return None if when <= now else when
    return -1.0


def parse(line: str, default_host: str, source: str, set_by: str, now: float | None = None) -> CookieAttempt | None:
    """A `Set-Cookie` value or a `document.cookie` assignment; None for a deletion or no cookie at all."""
    now = time.time() if now is None else now
    parts = line[:MAX_LINE].split(";")
    name, sep, _value = parts[0].partition("=")
    name = name.strip() if sep else ""
    attrs: dict[str, str] = {}
    for part in parts[1:]:
        key, _, value = part.strip().partition("=")
        attrs[key.strip().lower()] = value.strip()
    expires = _expiry(attrs, now)
    if expires is None or (not name and not sep):
        return None
    same_site = attrs.get("samesite", "").capitalize()
    return CookieAttempt(name=name[:200], domain=(attrs.get("domain", "").lstrip(".") or default_host).lower()[:255],
                         path=(attrs.get("path") or "/")[:200], expires=expires,
                         same_site=same_site if same_site in ("Strict", "Lax", "None") else "",
                         secure="secure" in attrs, http_only="httponly" in attrs, source=source, set_by=set_by[:2048])


def infer_refusal(attempt: CookieAttempt, third_party_context: bool) -> str:
    """Why Chromium would not store a script's cookie: its own rules, applied to what we saw."""
    if attempt.same_site == "None" and not attempt.secure:
        return "SameSite=None ohne Secure"
    if attempt.http_only:
        return "HttpOnly kann nicht per Skript gesetzt werden"
    if third_party_context and attempt.same_site != "None":
        return "ohne SameSite=None im Drittanbieter-Kontext"
    return "vom Browser nicht gespeichert (Grund nicht bekannt)"


def recorder_script() -> tuple[str, str]:
    """(source, name): an init script that records `document.cookie` assignments in every
    document, and the random name of the read-only function that returns them."""
    name = "__egov_cookies_" + secrets.token_hex(8)
    source = f"""(() => {{
  const proto = Document.prototype, d = Object.getOwnPropertyDescriptor(proto, 'cookie');
  if (!d || !d.set) return;
  const seen = []; let dropped = 0;
  Object.defineProperty(proto, 'cookie', {{configurable: true, enumerable: d.enumerable,
    get() {{ return d.get.call(this); }},
    set(v) {{ if (seen.length < {MAX_ATTEMPTS}) seen.push(String(v).slice(0, {MAX_LINE})); else dropped++;
             return d.set.call(this, v); }}}});
  Object.defineProperty(window, '{name}', {{value: () => ({{lines: seen.slice(), dropped: dropped}}),
    enumerable: false, writable: false, configurable: false}});
}})();"""
    return source, name


def read_script(name: str) -> str:
    """Reads one frame's recorded assignments (and where the frame is)."""
    return (f"const f = window['{name}']; const r = f ? f() : {{lines: [], dropped: 0, missing: true}};"
            "return {href: String(location.href).slice(0, 2048), host: String(location.hostname),"
            " lines: r.lines, dropped: r.dropped, missing: !!r.missing};")


def refusals_de(reasons: list[str]) -> list[str]:
    return [REFUSAL_REASONS_DE.get(r, r) for r in reasons]


def to_dict(a: CookieAttempt) -> dict[str, Any]:
    expiry = "Sitzung" if a.expires <= 0 else datetime.fromtimestamp(a.expires, UTC).isoformat(timespec="seconds")
    out: dict[str, Any] = {"name": a.name, "domain": a.domain, "path": a.path, "expires": expiry,
                           "same_site": a.same_site or "nicht gesetzt", "secure": a.secure, "http_only": a.http_only,
                           "source": a.source, "set_by": a.set_by or "Skript", "stored": a.stored}
    if not a.stored:
        out["refused"] = a.refused
        out["reason_inferred"] = a.reason_inferred
    return out
