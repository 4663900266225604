"""security.txt (RFC 9116): where researchers report vulnerabilities, and until when.

`analyse()` is pure over what was fetched (plus `gpgv` when a key is configured);
`fetch_and_analyse()` gets /.well-known/security.txt. Judged as the reference validator
(`sectxt`, the one internet.nl uses) judges it: every rule it treats as an error is a
warning here, so `valid` agrees with it. Deliberate differences (docs/checks.md, each with
the RFC sentence behind it): language tags must be valid, not only well-formed (RFC 5646
§ 2.2.9, against the IANA registry shipped as data); a file valid for more than a year is a
notice; a file over MAX_BYTES (1 MiB; RFC 9116 sets no size) is judged on its first MiB
and not valid (the rest was not seen), never reported as fields missing.
"""

from __future__ import annotations

import base64
import codecs
import dataclasses
import functools
import json
import os
import re
import shutil
import subprocess
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from checks.httpprobe import FetchOptions, fetch
from checks.result import Finding

PATH = "/.well-known/security.txt"
MAX_BYTES = 1024 * 1024  # read at most this much (RFC 9116 sets no limit); beyond it a notice, the rest unjudged
URI_FIELDS = frozenset({"acknowledgments", "canonical", "contact", "encryption", "hiring", "policy", "csaf"})
_CONTACT_SCHEMES = ("mailto", "https", "tel")
# RFC 3339 date-time as sectxt reads it ("T" or a space between date and time)
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[-+]\d{2}:\d{2})$", re.IGNORECASE | re.ASCII)
# RFC 5646 language tag, well-formed (langtag or private use)
_LANGTAG = re.compile(
    r"^(?:(?:[a-z]{2,3}(?:-[a-z]{3}){0,3}|[a-z]{4}|[a-z]{5,8})(?:-[a-z]{4})?(?:-(?:[a-z]{2}|\d{3}))?"
    r"(?:-(?:[a-z0-9]{5,8}|\d[a-z0-9]{3}))*(?:-[0-9a-wy-z](?:-[a-z0-9]{2,8})+)*(?:-x(?:-[a-z0-9]{1,8})+)?"
    r"|x(?:-[a-z0-9]{1,8})+)$", re.IGNORECASE | re.ASCII)
_GRANDFATHERED = frozenset({  # RFC 5646 irregular tags, well-formed by definition
    "en-gb-oed", "i-ami", "i-bnn", "i-default", "i-enochian", "i-hak", "i-klingon", "i-lux", "i-mingo", "i-navajo",
    "i-pwn", "i-tao", "i-tay", "i-tsu", "sgn-be-fr", "sgn-be-nl", "sgn-ch-de"})
_SIGNED_HEADER = "-----BEGIN PGP SIGNED MESSAGE-----"


@functools.cache
def _subtags() -> dict[str, frozenset[str]]:
    """The IANA Language Subtag Registry's subtags by type (shipped as data, offline)."""
    data = json.loads((Path(__file__).parent / "language_subtags.json").read_text(encoding="utf-8"))
    return {k: frozenset(v) for k, v in data.items() if isinstance(v, list)}


def _in_range(subtag: str, registered: frozenset[str]) -> bool:
    if subtag in registered:
        return True
    return any(lo <= subtag <= hi and len(subtag) == len(lo) for r in registered if ".." in r
               for lo, hi in [r.split("..")])


def valid_language_tag(tag: str) -> bool:
    """A well-formed (RFC 5646 § 2.1) and valid (§ 2.2.9: every subtag registered) language tag."""
    low = tag.lower()
    if low in _GRANDFATHERED or low in _subtags()["grandfathered"] or low in _subtags()["redundant"]:
        return True
    if not _LANGTAG.match(tag):
        return False
    parts = low.split("-")
    if parts[0] == "x":
        return True  # private use
    reg = _subtags()
    if len(parts[0]) > 3 or not _in_range(parts[0], reg["language"]):
        return False  # 4 letters reserved, 5-8 letters registered ones only (none are): § 2.2.1
    i = 1
    while i < len(parts) and len(parts[i]) == 3 and parts[i].isalpha():
        if parts[i] not in reg["extlang"]:
            return False
        i += 1
    if i < len(parts) and len(parts[i]) == 4 and parts[i].isalpha():
        if not _in_range(parts[i], reg["script"]):
            return False
        i += 1
    if i < len(parts) and ((len(parts[i]) == 2 and parts[i].isalpha()) or (len(parts[i]) == 3 and parts[i].isdigit())):
        if not _in_range(parts[i], reg["region"]):
            return False
        i += 1
    while i < len(parts) and (len(parts[i]) >= 5 or (len(parts[i]) == 4 and parts[i][0].isdigit())):
        if parts[i] not in reg["variant"]:
            return False
        i += 1
    return True  # extensions and private use: their content is not registered
_SIG_BEGIN = "-----BEGIN PGP SIGNATURE-----"
_SIG_END = "-----END PGP SIGNATURE-----"


@dataclasses.dataclass(frozen=True, slots=True)
class SecurityTxt:
    url: str
    found: bool
    https: bool
    contacts: tuple[str, ...] = ()
    expires: datetime | None = None
    signed: bool = False
    findings: tuple[Finding, ...] = ()
    signature: str | None = None  # None (unsigned), "malformed", "well-formed", "verified", "invalid"
    size_bytes: int | None = None
    truncated: bool = False

    @property
    def valid(self) -> bool:
        return self.found and not any(f.severity == "warning" for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "found": self.found, "https": self.https, "valid": self.valid,
                "contacts": list(self.contacts[:10]), "contacts_total": len(self.contacts),
                "expires": self.expires.isoformat() if self.expires else None,
                "signed": self.signed, "signature": self.signature, "size_bytes": self.size_bytes,
                "truncated": self.truncated, "findings": [f.to_dict() for f in self.findings]}


def _crc24(data: bytes) -> int:
    crc = 0xB704CE
    for byte in data:
        crc ^= byte << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= 0x1864CFB
    return crc & 0xFFFFFF


def _armor_payload(lines: list[str]) -> bytes | None:
    """The binary inside an ASCII armor body (armor headers, blank line, base64, =CRC), or None."""
    if "" not in lines:
        return None
    body = lines[lines.index("") + 1:]
    checksum = None
    if body and body[-1].startswith("="):
        checksum = body.pop()
    try:
        data = base64.b64decode("".join(body), validate=True)
        if checksum is not None and int.from_bytes(base64.b64decode(checksum[1:], validate=True), "big") != _crc24(data):
            return None
    except (ValueError, TypeError):
        return None
    return data or None


def _is_signature_packet(data: bytes) -> bool:
    first = data[0]
    if not first & 0x80:
        return False
    tag = first & 0x3F if first & 0x40 else (first >> 2) & 0x0F
    return tag == 2  # OpenPGP signature packet


def _dearmor_key(path: str) -> bytes | None:
    with open(path, "rb") as fh:
        data = fh.read()
    text = data.decode("ascii", "replace")
    lines = [line.rstrip() for line in text.splitlines()]
    try:
        start = next(i for i, line in enumerate(lines) if line.startswith("-----BEGIN PGP PUBLIC KEY BLOCK"))
        end = next(i for i, line in enumerate(lines) if line.startswith("-----END PGP PUBLIC KEY BLOCK"))
    except StopIteration:
        return data or None  # a binary key as it is
    return _armor_payload(lines[start + 1:end])


def verify_signature(signed: bytes, key_file: str) -> bool:
    """Whether `signed` (a clear-signed message) carries a good signature by the key in `key_file`
    (ASCII-armored or binary OpenPGP public key), checked by Debian's gpgv."""
    gpgv = shutil.which("gpgv")
    key = _dearmor_key(key_file)
    if gpgv is None or key is None:
        return False
    with tempfile.TemporaryDirectory(prefix="egov-gpgv-") as home:
        keyring = os.path.join(home, "key.gpg")
        message = os.path.join(home, "security.txt.asc")
        with open(keyring, "wb") as f:
            f.write(key)
        with open(message, "wb") as f:
            f.write(signed)
        done = subprocess.run([gpgv, "--homedir", home, "--keyring", keyring, "--status-fd", "1", message],
                              capture_output=True, timeout=20, check=False)
    return done.returncode == 0 and b"[GNUPG:] GOODSIG" in done.stdout


def _signature_problems(lines: list[str]) -> tuple[list[str], list[str]]:
    """Problems of a clear-signed file's structure, and its signed lines (dash-unescaped)."""
    problems: list[str] = []
    if lines[0] != _SIGNED_HEADER:
        problems.append(f"die Datei beginnt nicht mit '{_SIGNED_HEADER}'")
    try:
        header = lines.index(_SIGNED_HEADER)
        begin = lines.index(_SIG_BEGIN)
        end = lines.index(_SIG_END)
    except ValueError:
        return problems + ["der Signaturblock fehlt oder ist unvollständig"], []
    if not begin < end:
        return problems + ["der Signaturblock ist falsch aufgebaut"], []
    headers_end = next((i for i in range(header + 1, begin) if lines[i] == ""), None)
    if headers_end is None:
        problems.append("die Leerzeile nach den Armor-Kopfzeilen fehlt")
        headers_end = header
    content = [line.removeprefix("- ") for line in lines[headers_end + 1:begin]]
    payload = _armor_payload(lines[begin + 1:end])
    if payload is None:
        problems.append("der Signaturblock ist kein gültiges Base64 mit passender Prüfsumme")
    elif not _is_signature_packet(payload):
        problems.append("der Signaturblock enthält kein OpenPGP-Signaturpaket")
    if any(line.strip() for line in lines[end + 1:]):
        problems.append("nach der Signatur folgen weitere Daten")
    return problems, content


def _outside_armor(lines: list[str]) -> list[str]:
    out: list[str] = []
    in_signature = False
    for line in lines:
        if line == _SIG_BEGIN:
            in_signature = True
        elif line == _SIG_END:
            in_signature = False
        elif not in_signature and line != _SIGNED_HEADER and not line.lower().startswith("hash:"):
            out.append(line.removeprefix("- "))
    return out


def _parse_datetime(value: str) -> datetime | None:
    if not _DATETIME.match(value):
        return None
    text = value.strip().replace(" ", "T", 1)
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def analyse(url: str, status: int, content_type: str | None, body: str | bytes, now: datetime | None = None, *,
            truncated: bool = False, key_file: str | None = None) -> SecurityTxt:
    """Judge a fetched security.txt (status and body of the final response at `url`).

    `truncated`: the body is the first MAX_BYTES of a larger file. `key_file`: verify the
    signature with this OpenPGP public key.
    """
    now = now or datetime.now(UTC)
    https = urlsplit(url).scheme == "https"
    if status != 200:
        return SecurityTxt(url, False, https, findings=(Finding(
            "missing", "warning", f"Keine security.txt unter {PATH} (HTTP-Status {status}). "
            "Abhilfe: Datei mit Contact und Expires nach RFC 9116 bereitstellen."),))
    raw = body.encode("utf-8") if isinstance(body, str) else body
    findings: list[Finding] = []

    def warn(id: str, message: str, severity: str = "warning") -> None:
        if not any(f.id == id for f in findings):  # one finding per rule, the first place named
            findings.append(Finding(id, severity, message))

    mime, _, params = (content_type or "").partition(";")
    if mime.strip().lower() != "text/plain":
        warn("content-type", f"Content-Type ist '{mime.strip().lower()[:60] or 'nicht gesetzt'}', "
                             "RFC 9116 verlangt text/plain.")
    charset = next((p.split("=", 1)[1].strip().strip('"').lower() for p in params.split(";")
                    if p.strip().lower().startswith("charset=")), "utf-8")
    if charset not in ("utf-8", "csutf8"):
        warn("charset", f"Content-Type nennt charset={charset[:30]}; RFC 9116 verlangt utf-8.")
    if not https:
        warn("not-https", "security.txt wird nicht über HTTPS ausgeliefert; RFC 9116 verlangt HTTPS.")
    if truncated:  # no RFC rule; but what lies beyond the limit was not seen: never valid, never "missing"
        warn("too-large", f"Die Datei ist größer als {MAX_BYTES // 1024 // 1024} MiB; beurteilt wurde nur das erste "
                          f"MiB, der Rest nicht. Abhilfe: die Datei auf die Felder nach RFC 9116 kürzen.")
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8):]
        warn("bom", "Die Datei beginnt mit einer Byte-Order-Mark (BOM); RFC 9116 verlangt UTF-8 ohne BOM. "
                    "Abhilfe: die Datei ohne BOM speichern.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("utf-8", "replace")
        if not truncated:  # a cut may split a character
            warn("encoding", "Die Datei ist nicht gültig UTF-8-kodiert.")
    lines = [line.rstrip() for line in text.split("\n")]
    if lines and lines[-1] == "":
        ends_with_newline = True
        lines.pop()
    else:
        ends_with_newline = False
    if not ends_with_newline and not truncated:
        warn("no-final-newline", "Die letzte Zeile endet nicht mit einem Zeilenumbruch (RFC 9116, Abschnitt 4).")

    signed = bool(lines) and _SIGNED_HEADER in lines
    signature: str | None = None
    content = lines
    if signed:
        problems, content = _signature_problems(lines)
        if problems:
            content = _outside_armor(lines)  # judge the fields wherever they stand
            signature = "malformed"
            warn("signature-malformed", "Die PGP-Signatur ist fehlerhaft: " + "; ".join(problems) + ".")
        else:
            signature = "well-formed"
            if text.endswith("\n\n") and not truncated:
                warn("signature-malformed", "Eine signierte Datei darf nur mit einem Zeilenumbruch enden.")
                signature = "malformed"
        if key_file and signature == "well-formed":
            signature = "verified" if verify_signature(raw, key_file) else "invalid"
            if signature == "invalid":
                warn("signature-invalid", "Die PGP-Signatur lässt sich mit dem hinterlegten Schlüssel nicht "
                                          "bestätigen.")

    values: dict[str, list[str]] = {}
    for line in content:
        if not line or line.startswith("#"):
            continue
        if ":" not in line:
            warn("syntax", f"Zeile ist kein Feld und kein Kommentar: '{line[:60]}'.")
            continue
        key, value = line.split(":", 1)
        if key != key.rstrip():
            warn("space-before-colon", "Vor dem Doppelpunkt eines Feldnamens darf kein Leerzeichen stehen.")
        key = key.strip().lower()
        if value and not value.startswith(" "):
            warn("no-space-after-colon", "Nach dem Doppelpunkt muss ein Leerzeichen folgen (RFC 9116, Abschnitt 2.4).")
        value = value.strip()
        if not key or not value:
            warn("empty-field", "Feldname und Feldwert dürfen nicht leer sein.")
            continue
        values.setdefault(key, []).append(value)
        if key in URI_FIELDS:
            scheme = urlsplit(value).scheme.lower()
            if not scheme:
                warn("contact-scheme" if key == "contact" else "not-a-uri",
                     "Contact muss eine URI sein (mailto:, https: oder tel:)." if key == "contact"
                     else f"Feld {key.capitalize()} muss eine URI sein.")
            elif scheme == "http":
                warn("uri-not-https", f"Feld {key.capitalize()} nennt eine http://-Adresse; RFC 9116 verlangt "
                                      "https:// für Web-URIs.")
            elif key == "contact" and scheme not in _CONTACT_SCHEMES:
                warn("contact-unusual-scheme", f"Contact nutzt das Schema '{scheme[:20]}'; RFC 9116 empfiehlt "
                                               "mailto:, https: oder tel:.", "notice")
        elif key == "preferred-languages":
            bad = [t for t in (v.strip() for v in value.split(",")) if not valid_language_tag(t)]
            if bad:
                warn("language-tag", f"Preferred-Languages enthält keine gültigen Sprach-Tags nach RFC 5646 "
                                     f"(IANA-Register): {', '.join(b[:20] for b in bad[:5])}. Abhilfe: z. B. 'de, en'.")
    if truncated:
        pass  # the fields may lie beyond what was read: never report them as missing
    elif not values.get("contact"):
        warn("no-contact", "Feld Contact fehlt. Abhilfe: z. B. 'Contact: mailto:security@…' eintragen.")
    expires = values.get("expires", [])
    expiry: datetime | None = None
    if len(expires) > 1:
        warn("expires-repeated", "Expires darf nur einmal vorkommen.")
    elif not expires and not truncated:
        warn("no-expires", "Feld Expires fehlt.")
    if expires:
        expiry = _parse_datetime(expires[0])
        if expiry is None:
            warn("expires-invalid", f"Expires '{expires[0][:40]}' ist kein Zeitpunkt nach RFC 3339.")
        elif expiry <= now:
            warn("expired", f"security.txt ist seit {expiry.date().isoformat()} abgelaufen. "
                            "Abhilfe: Expires auf ein Datum in weniger als einem Jahr setzen.")
        elif expiry > now + timedelta(days=366):
            warn("expires-far", "Expires liegt mehr als ein Jahr in der Zukunft; RFC 9116 rät davon ab.", "notice")
    if len(values.get("preferred-languages", [])) > 1:
        warn("languages-repeated", "Preferred-Languages darf nur einmal vorkommen.")
    if any(not v.endswith("provider-metadata.json") for v in values.get("csaf", [])):
        warn("csaf-path", "Feld CSAF muss auf eine provider-metadata.json zeigen.")
    canonical = values.get("canonical", [])
    if canonical and url not in canonical:  # RFC 9116 § 2.5.2: "... its contents SHOULD NOT be trusted"
        warn("canonical", f"Canonical nennt nicht die URL, unter der die Datei abgerufen wurde ({url[:120]}); "
                          "nach RFC 9116 § 2.5.2 ist ihr Inhalt dann nicht vertrauenswürdig. Abhilfe: jede "
                          "ausliefernde URL als Canonical eintragen.")
    contacts = tuple(c[:200] for c in values.get("contact", []))
    return SecurityTxt(url, True, https, contacts, expiry, signed, tuple(findings), signature,
                       len(body) if isinstance(body, bytes) else len(raw), truncated)


def location(page_url: str) -> str:
    """The security.txt URL for the site of `page_url`, over HTTPS."""
    parts = urlsplit(page_url)
    netloc = parts.netloc if parts.scheme == "https" else (parts.hostname or "")
    return urlunsplit(("https", netloc, PATH, "", ""))


def fetch_and_analyse(url: str, options: FetchOptions, key_file: str | None = None) -> SecurityTxt:
    opts = dataclasses.replace(options, max_body_bytes=MAX_BYTES, truncate_body=True, method="GET",
                               headers=(("Accept", "text/plain"),))
    out = fetch(url, opts)
    if out.error is not None and not out.status:
        return SecurityTxt(url, False, True, findings=(Finding(
            "unreachable", "warning", f"security.txt nicht abrufbar: {out.error.detail[:200]}"),))
    ctype = next((v for k, v in out.headers if k.lower() == "content-type"), None)
    return analyse(out.final_url, out.status, ctype, out.body, truncated=out.body_truncated, key_file=key_file)
