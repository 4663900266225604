"""What a browser makes of the bytes of a response: the URL a `Location` leads to, the codec of
a body, a failure in words. Shared by both probers (checks/httpprobe.py, checks/curlprobe.py)
and the checks that read bodies; no I/O here."""

from __future__ import annotations

import codecs
import http.client
from typing import Any
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

MAX_HEADER_BYTES = 256 * 1024  # the sum of all header lines we accept before giving up (Chromium's limit)


class HeadersTooLarge(http.client.HTTPException):
    """The header block of a response is larger than Chromium accepts (MAX_HEADER_BYTES)."""


def _read_headers_capped(fp: Any) -> list[bytes]:
    """http.client's header reader with Chromium's limit on the whole block, not per line and count."""
    headers, total = [], 0
    while True:
        line = fp.readline(MAX_HEADER_BYTES + 1)
        total += len(line)
        if total > MAX_HEADER_BYTES:
            raise HeadersTooLarge(f"Kopfzeilen der Antwort größer als {MAX_HEADER_BYTES // 1024} KiB")
        headers.append(line)
        if line in (b"\r\n", b"\n", b""):
            return headers


http.client._read_headers = _read_headers_capped  # type: ignore[attr-defined]


class InvalidRedirect(ValueError):
    """A `Location` no browser follows (the probers report it as protocol_error)."""


def redirect_target(current: str, location: str) -> str:
    """The absolute URL a `Location` header leads to, as a browser computes it.

    `location` is the header value as read (Latin-1, so every byte survives). Like Chromium,
    its bytes are read as UTF-8 where they are, tab/CR/LF are dropped, a non-ASCII host name
    becomes its IDNA form and every other non-ASCII byte (or space, quote, angle bracket) is
    percent-encoded, so a server that sends raw "ä" is followed to the page a browser opens.
    Raises InvalidRedirect for what no browser follows: other control characters,
    a host name that has no IDNA form.
    """
    raw = location.strip().encode("latin-1", errors="replace")
    raw = raw.replace(b"\t", b"").replace(b"\r", b"").replace(b"\n", b"")
    if any(b < 0x20 or b == 0x7F for b in raw):
        raise InvalidRedirect(f"Weiterleitung auf eine ungültige Adresse (Steuerzeichen im Location-Kopf): {location[:200]!r}")
    text = raw.decode("utf-8", errors="surrogateescape")
    joined = urljoin(current, text)
    parts = urlsplit(joined)
    netloc = parts.netloc
    if parts.hostname and not parts.hostname.isascii():
        try:
            ascii_host = parts.hostname.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise InvalidRedirect(f"Weiterleitung auf einen ungültigen Hostnamen: {parts.hostname[:200]!r}") from exc
        userinfo = netloc.rpartition("@")[0]
        port = f":{parts.port}" if parts.port else ""
        netloc = (userinfo + "@" if userinfo else "") + ascii_host + port

    def enc(part: str) -> str:
        return quote(part.encode("utf-8", errors="surrogateescape"), safe=_URL_SAFE)

    return urlunsplit((parts.scheme, enc(netloc) if netloc.isascii() else netloc, enc(parts.path), enc(parts.query),
                       enc(parts.fragment)))


# printable ASCII a browser leaves as it is in a URL (space, '"', '<', '>', '`' and non-ASCII are encoded)
_URL_SAFE = "!#$%&'()*+,-./:;=?@[]\\^_{|}~"


def charset_of(headers: list[tuple[str, str]] | tuple[tuple[str, str], ...], body: bytes = b"") -> str:
    """The text codec of a response as a browser picks it: the Content-Type's charset if it is a
    text encoding Python knows (not a codec such as idna, rot13 or base64), else a BOM, else
    UTF-8 where the body is valid UTF-8, else windows-1252 (the WHATWG fallback)."""
    declared = ""
    for name, value in headers:
        if name.lower() == "content-type" and "charset=" in value.lower():
            declared = value.lower().split("charset=", 1)[1].split(";")[0].strip().strip("'\"")
    if declared:
        try:
            info = codecs.lookup(declared)
        except LookupError:
            info = None
        if info is not None and getattr(info, "_is_text_encoding", True) and info.name not in _NOT_PAGE_CODECS:
            return "cp1252" if info.name in ("latin-1", "iso8859-1", "ascii") else info.name
    if body.startswith(codecs.BOM_UTF8):
        return "utf-8"
    if body.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        body.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        return "cp1252"


# text codecs of Python that no browser offers for a page: their decoders refuse errors="replace"
_NOT_PAGE_CODECS = frozenset({"idna", "punycode", "raw-unicode-escape", "unicode-escape", "undefined", "mbcs",
                              "oem", "palmos"})


def body_text(headers: list[tuple[str, str]] | tuple[tuple[str, str], ...], body: bytes) -> str:
    """The body as text, decoded as a browser would (see charset_of); never raises."""
    charset = charset_of(headers, body)
    try:
        return body.decode(charset, errors="replace")
    except (LookupError, UnicodeError, ValueError):
        return body.decode("cp1252", errors="replace")


def german_error(exc: BaseException) -> str:
    """What went wrong in a response, for operators (never a bare exception name)."""
    if isinstance(exc, http.client.IncompleteRead):
        return f"Verbindung nach {len(exc.partial)} Bytes beendet, obwohl mehr angekündigt war"
    if isinstance(exc, http.client.BadStatusLine):
        return f"keine HTTP-Statuszeile ({str(exc)[:80]!r})"
    if isinstance(exc, http.client.LineTooLong):
        return "eine Zeile der Antwort ist zu lang"
    if isinstance(exc, http.client.UnknownProtocol):
        return f"unbekannte HTTP-Version ({str(exc)[:40]!r})"
    if isinstance(exc, ConnectionResetError):
        return "Verbindung vom Server zurückgesetzt"
    if isinstance(exc, TimeoutError):
        return "Zeitgrenze beim Lesen überschritten"
    if isinstance(exc, ValueError):
        return f"fehlerhafte Angabe in der Antwort ({str(exc)[:80]})"
    return f"{type(exc).__name__} {str(exc)[:80]}".strip()
