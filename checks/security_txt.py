"""security.txt (RFC 9116): where researchers report vulnerabilities, and until when.

`analyse()` is pure over what was fetched; `fetch()` gets /.well-known/security.txt.
Required by the RFC: at least one Contact, exactly one Expires (a date in the future),
served over HTTPS as text/plain. A file valid for more than a year is legal but against
the RFC's advice, so it is a notice.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from checks.httpprobe import FetchOptions, fetch
from checks.result import Finding

PATH = "/.well-known/security.txt"
MAX_BYTES = 64 * 1024
_FIELD = re.compile(r"^([A-Za-z0-9-]+):\s*(.*?)\s*$")
_CONTACT = re.compile(r"^(mailto:|https://|tel:)", re.IGNORECASE)


@dataclasses.dataclass(frozen=True, slots=True)
class SecurityTxt:
    url: str
    found: bool
    https: bool
    contacts: tuple[str, ...] = ()
    expires: datetime | None = None
    signed: bool = False
    findings: tuple[Finding, ...] = ()

    @property
    def valid(self) -> bool:
        return self.found and not any(f.severity == "warning" for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "found": self.found, "https": self.https, "valid": self.valid,
                "contacts": list(self.contacts[:10]), "expires": self.expires.isoformat() if self.expires else None,
                "signed": self.signed,
                "findings": [f.to_dict() for f in self.findings]}


def _parse_datetime(value: str) -> datetime | None:
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None or "T" not in value.upper():
        return None  # RFC 3339 needs a time and an offset
    return parsed


def analyse(url: str, status: int, content_type: str | None, body: str, now: datetime | None = None) -> SecurityTxt:
    """Judge a fetched security.txt (status and body of the final response at `url`)."""
    now = now or datetime.now(UTC)
    https = urlsplit(url).scheme == "https"
    if status != 200:
        return SecurityTxt(url, False, https, findings=(Finding(
            "missing", "warning", f"Keine security.txt unter {PATH} (HTTP-Status {status}). "
            "Abhilfe: Datei mit Contact und Expires nach RFC 9116 bereitstellen."),))
    findings: list[Finding] = []
    ctype = (content_type or "").split(";")[0].strip().lower()
    if ctype != "text/plain":
        findings.append(Finding("content-type", "warning",
                                           f"Content-Type ist '{ctype[:60] or 'nicht gesetzt'}', RFC 9116 verlangt text/plain."))
    if not https:
        findings.append(Finding("not-https", "warning",
                                           "security.txt wird nicht über HTTPS ausgeliefert; RFC 9116 verlangt HTTPS."))
    signed = "-----BEGIN PGP SIGNED MESSAGE-----" in body
    contacts: list[str] = []
    expires: list[str] = []
    canonical: list[str] = []
    bad_lines = 0
    in_signature = False
    for raw in body.splitlines():
        line = raw.strip()
        if line.startswith("-----BEGIN PGP SIGNATURE-----"):
            in_signature = True
        if in_signature or not line or line.startswith(("#", "-----", "Hash:")):
            if line.startswith("-----END PGP SIGNATURE-----"):
                in_signature = False
            continue
        m = _FIELD.match(line)
        if m is None:
            bad_lines += 1
            continue
        name, value = m.group(1).lower(), m.group(2)
        if name == "contact":
            contacts.append(value[:200])
        elif name == "expires":
            expires.append(value[:100])
        elif name == "canonical":
            canonical.append(value[:300])
    if bad_lines:
        findings.append(Finding("syntax", "notice", f"{bad_lines} Zeile(n) sind keine gültigen Felder."))
    if not contacts:
        findings.append(Finding("no-contact", "warning",
                                           "Feld Contact fehlt. Abhilfe: z. B. 'Contact: mailto:security@…' eintragen."))
    elif not all(_CONTACT.match(c) for c in contacts):
        findings.append(Finding("contact-scheme", "warning",
                                           "Contact muss eine mailto:-, https:- oder tel:-URI sein."))
    expiry: datetime | None = None
    if len(expires) != 1:
        findings.append(Finding(
            "no-expires" if not expires else "expires-repeated", "warning",
            "Feld Expires fehlt." if not expires else "Expires darf nur einmal vorkommen."))
    if expires:
        expiry = _parse_datetime(expires[0])
        if expiry is None:
            findings.append(Finding("expires-invalid", "warning",
                                               f"Expires '{expires[0][:40]}' ist kein Zeitpunkt nach RFC 3339."))
        elif expiry <= now:
            findings.append(Finding("expired", "warning",
                                               f"security.txt ist seit {expiry.date().isoformat()} abgelaufen. "
                                               "Abhilfe: Expires auf ein Datum in weniger als einem Jahr setzen."))
        elif expiry > now + timedelta(days=366):
            findings.append(Finding("expires-far", "notice",
                                               "Expires liegt mehr als ein Jahr in der Zukunft; RFC 9116 rät davon ab."))
    if canonical and url not in canonical:
        findings.append(Finding("canonical", "notice", "Die Datei nennt als Canonical eine andere URL."))
    return SecurityTxt(url, True, https, tuple(contacts), expiry, signed, tuple(findings))


def location(page_url: str) -> str:
    """The security.txt URL for the site of `page_url`, over HTTPS."""
    parts = urlsplit(page_url)
    netloc = parts.netloc if parts.scheme == "https" else (parts.hostname or "")
    return urlunsplit(("https", netloc, PATH, "", ""))


def fetch_and_analyse(url: str, options: FetchOptions) -> SecurityTxt:
    opts = dataclasses.replace(options, max_body_bytes=MAX_BYTES, truncate_body=True, method="GET",
                               headers=(("Accept", "text/plain"),))
    out = fetch(url, opts)
    if out.error is not None and not out.status:
        return SecurityTxt(url, False, True, findings=(Finding(
            "unreachable", "warning", f"security.txt nicht abrufbar: {out.error.detail[:200]}"),))
    ctype = next((v for k, v in out.headers if k.lower() == "content-type"), None)
    return analyse(out.final_url, out.status, ctype, out.body.decode("utf-8", "replace"))
