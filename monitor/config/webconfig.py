"""TLS and basic authentication for the process's own HTTP endpoint (/metrics, /healthz,
/-/reload), in the web-config file format of the Prometheus exporter-toolkit, so the same file
an operator writes for node_exporter or blackbox_exporter works here (settings.yaml
`web_config:`; https://github.com/prometheus/exporter-toolkit/blob/master/docs/web-configuration.md):

    tls_server_config:
      cert_file: server.crt          # PEM, the chain after the leaf
      key_file: server.key
      client_auth_type: RequireAndVerifyClientCert   # optional, with client_ca_file
      client_ca_file: clients-ca.crt
      min_version: TLS12             # TLS12 (default) or TLS13
    http_server_config:
      headers: {Strict-Transport-Security: max-age=31536000}
    basic_auth_users:
      prometheus: $2y$10$...         # bcrypt hash (htpasswd -nBC 10 "" | tr -d ':\\n')

Paths are relative to the web-config file. With basic_auth_users every request needs one of
them, except the public status page (/status/...) and /healthz (the orchestrator's probe); a
reload keeps its own rule (reload_from, reload_token_file). As the exporter-toolkit does, a
password that matched once is remembered (its SHA-256, not the password), so bcrypt's cost is
paid once per client, not per scrape. Keys the exporter-toolkit knows but this process does not
implement (cipher_suites, curve_preferences, client_allowed_sans, http2) are refused by name,
never ignored.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import functools
import hashlib
import hmac
import logging
import socket
import ssl
import threading
import time
from pathlib import Path
from typing import Any

import bcrypt
import yaml

log = logging.getLogger("egov.webconfig")

KNOWN = {
    "tls_server_config": {"cert_file", "key_file", "client_auth_type", "client_ca_file", "min_version", "max_version",
                          "cipher_suites", "curve_preferences", "prefer_server_cipher_suites", "client_allowed_sans",
                          "cert", "key", "client_ca"},
    "http_server_config": {"http2", "headers"},
    "basic_auth_users": None,
}
NOT_IMPLEMENTED = {"cipher_suites", "curve_preferences", "client_allowed_sans", "http2", "cert", "key", "client_ca"}
CLIENT_AUTH = {"NoClientCert": ssl.CERT_NONE, "RequestClientCert": ssl.CERT_NONE,
               "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL, "RequireAndVerifyClientCert": ssl.CERT_REQUIRED}
VERSIONS = {"TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}
# what the exporter-toolkit sets itself and an operator may not override
RESERVED_HEADERS = {"content-type", "content-length", "www-authenticate", "connection"}
PUBLIC_PATHS = ("/status", "/healthz")


class WebConfigError(ValueError):
    """Problems in the web-config file: (line or None, field, German message) each."""

    def __init__(self, problems: list[tuple[int | None, str, str]]) -> None:
        super().__init__("; ".join(f"{field}: {message}" for _line, field, message in problems))
        self.problems = problems


@dataclasses.dataclass(eq=False)
class WebConfig:
    path: Path
    context: ssl.SSLContext | None  # None: plain HTTP
    users: dict[str, bytes]  # user -> bcrypt hash; empty: no authentication
    headers: dict[str, str]
    cert_file: Path | None = None  # the server's certificate (the CLI's reload pins it)
    files: tuple[Path, ...] = ()  # what it was read from: the web config, certificate, key, client CA
    _good: set[bytes] = dataclasses.field(default_factory=set)
    _lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    def authorized(self, authorization: str | None) -> bool:
        """Whether an `Authorization` header names one of `basic_auth_users` with its password."""
        if not self.users:
            return True
        if not authorization or not authorization.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        hashed = self.users.get(user)
        if hashed is None:
            bcrypt.checkpw(b"x", _dummy())  # as long as for a known user: the timing says nothing about names
            return False
        remembered = hashlib.sha256(user.encode() + b"\0" + password.encode() + b"\0" + hashed).digest()
        with self._lock:
            if any(hmac.compare_digest(remembered, good) for good in self._good):
                return True
        if not bcrypt.checkpw(password.encode(), hashed):
            return False
        with self._lock:
            self._good.add(remembered)
        return True

    def client_context(self) -> ssl.SSLContext:
        """For this host's own CLI talking to the process: trusts exactly the server's certificate."""
        context = ssl.create_default_context(cafile=str(self.cert_file) if self.cert_file else None)
        context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN  # the leaf itself as the trust anchor
        context.check_hostname = False  # pinned: the certificate, not a name, is what is trusted
        return context

    @staticmethod
    def public(path: str) -> bool:
        return any(path == p or path.startswith(p + "/") for p in PUBLIC_PATHS)


@functools.cache
def _dummy() -> bytes:
    """A hash to spend a known user's time on for an unknown one; made on first need, not at every start."""
    return bcrypt.hashpw(b"egov-monitor", bcrypt.gensalt(10))


def _path(base: Path, raw: Any) -> Path | None:
    """A file named in the web-config, relative to the web-config's directory."""
    if not raw:
        return None
    p = Path(str(raw))
    return p if p.is_absolute() else base / p


def _lines(node: yaml.Node, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], int]:
    out: dict[tuple[str, ...], int] = {}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            here = (*prefix, str(key.value))
            out[here] = key.start_mark.line + 1
            out.update(_lines(value, here))
    return out


def load(path: Path) -> WebConfig:
    """Read and check a web-config file; WebConfigError names each problem (line, field, fix)."""
    try:
        text = path.read_text(encoding="utf-8")
        data = yaml.safe_load(text) or {}
        root = yaml.compose(text)
        lines = _lines(root) if root is not None else {}
    except OSError as exc:
        raise WebConfigError([(None, "web_config", f"Datei nicht lesbar ({exc.strerror}): Pfad prüfen")]) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise WebConfigError([(mark.line + 1 if mark else None, "-", f"kein gültiges YAML: {exc}")]) from exc
    problems: list[tuple[int | None, str, str]] = []
    if not isinstance(data, dict):
        raise WebConfigError([(1, "-", ("erwartet eine Zuordnung mit tls_server_config, http_server_config, "
                                       "basic_auth_users"))])
    for key, value in data.items():
        if key not in KNOWN:
            problems.append((lines.get((key,)), key, "unbekannter Schlüssel; möglich: " + ", ".join(KNOWN)))
        elif KNOWN[key] is not None and value is not None:
            if not isinstance(value, dict):
                problems.append((lines.get((key,)), key, "erwartet eine Zuordnung"))
                continue
            for sub in value:
                field = f"{key}.{sub}"
                if sub not in (KNOWN[key] or ()):
                    problems.append((lines.get((key, sub)), field, "unbekannter Schlüssel; möglich: "
                                     + ", ".join(sorted((KNOWN[key] or set()) - NOT_IMPLEMENTED))))
                elif sub in NOT_IMPLEMENTED:
                    problems.append((lines.get((key, sub)), field, ("wird von egov-monitor nicht unterstützt; "
                                     "den Schlüssel entfernen (TLS 1.2+ mit den Voreinstellungen von OpenSSL)")))
    tls = data.get("tls_server_config") if isinstance(data.get("tls_server_config"), dict) else None
    context = _context(path.parent, tls, lines, problems) if tls else None
    users: dict[str, bytes] = {}
    raw_users = data.get("basic_auth_users") or {}
    if not isinstance(raw_users, dict):
        problems.append((lines.get(("basic_auth_users",)), "basic_auth_users", "erwartet Benutzer: bcrypt-Hash"))
        raw_users = {}
    for user, hashed in raw_users.items():
        field = f"basic_auth_users.{user}"
        value = str(hashed or "").encode()
        try:
            bcrypt.checkpw(b"", value)
        except ValueError:
            problems.append((lines.get(("basic_auth_users", str(user))), field,
                             ("kein bcrypt-Hash (beginnt mit $2a$, $2b$ oder $2y$); erzeugen z. B. mit "
                             "htpasswd -nBC 10 \"\" | tr -d ':\\n'")))
            continue
        users[str(user)] = value
    if users and context is None:
        problems.append((lines.get(("basic_auth_users",)), "basic_auth_users",
                         "Passwörter ohne TLS gingen im Klartext über das Netz: tls_server_config ergänzen"))
    headers: dict[str, str] = {}
    http_config = data.get("http_server_config") if isinstance(data.get("http_server_config"), dict) else {}
    for name, value in ((http_config or {}).get("headers") or {}).items():
        if str(name).lower() in RESERVED_HEADERS:
            problems.append((lines.get(("http_server_config", "headers", str(name))),
                             f"http_server_config.headers.{name}", "diesen Header setzt der Server selbst; entfernen"))
        else:
            headers[str(name)] = str(value)
    if problems:
        raise WebConfigError(problems)
    files = tuple(f for f in (path, *(_path(path.parent, tls.get(k)) for k in ("cert_file", "key_file",
                                                                              "client_ca_file") if tls)) if f)
    return WebConfig(path, context, users, headers, _path(path.parent, tls.get("cert_file")) if tls else None,
                     files=files)


def _stamp(files: tuple[Path, ...]) -> tuple[tuple[int, int] | None, ...]:
    out: list[tuple[int, int] | None] = []
    for f in files:
        try:
            st = f.stat()
            out.append((st.st_mtime_ns, st.st_size))
        except OSError:
            out.append(None)
    return tuple(out)


class Live:
    """The web config as the exporter-toolkit serves it: read anew when it changes, so a renewed
    certificate, a changed password or header applies to the next connection without a restart.
    The files (the web config and the certificate, key and client CA it names) are looked at at
    most once a second; changed, the file is read and checked again. An invalid one never
    replaces the running one (the problem is logged, the running config stays); neither does one
    that would switch TLS on or off, which needs a restart (the status process is set up by it)."""

    RECHECK_SECONDS = 1.0

    def __init__(self, config: WebConfig) -> None:
        self._config = config
        self._stamp = _stamp(config.files)
        self._checked = time.monotonic()
        self._lock = threading.Lock()

    @property
    def config(self) -> WebConfig:
        if time.monotonic() - self._checked < self.RECHECK_SECONDS:
            return self._config
        with self._lock:
            if time.monotonic() - self._checked < self.RECHECK_SECONDS:
                return self._config
            self._checked = time.monotonic()
            stamp = _stamp(self._config.files)
            if stamp == self._stamp:
                return self._config
            self._stamp = stamp
            try:
                new = load(self._config.path)
            except WebConfigError as exc:
                log.error("web_config %s geändert, aber ungültig; die laufende bleibt aktiv: %s", self._config.path, exc)
                return self._config
            if (new.context is None) != (self._config.context is None):
                log.error("web_config %s schaltet TLS %s: das braucht einen Neustart; die laufende bleibt aktiv",
                          self._config.path, "ein" if new.context is not None else "aus")
                return self._config
            self._config = new
            self._stamp = _stamp(new.files)
            log.info("web_config %s neu gelesen (Zertifikat, Benutzer, Header)", new.path)
            return new

    def wrap_socket(self, sock: socket.socket, server_side: bool) -> ssl.SSLSocket:
        """A connection's handshake with the current certificate (the server's `tls`)."""
        context = self.config.context
        assert context is not None
        return context.wrap_socket(sock, server_side=server_side)


def _context(base: Path, tls: dict[str, Any], lines: dict[tuple[str, ...], int],
             problems: list[tuple[int | None, str, str]]) -> ssl.SSLContext | None:
    def where(key: str) -> int | None:
        return lines.get(("tls_server_config", key))

    def file(key: str) -> Path | None:
        return _path(base, tls.get(key))

    cert, key = file("cert_file"), file("key_file")
    if cert is None or key is None:
        problems.append((lines.get(("tls_server_config",)), "tls_server_config",
                         "cert_file und key_file sind beide nötig (PEM-Dateien, relativ zur web-config-Datei)"))
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    for name, field, default in (("min_version", "minimum_version", "TLS12"), ("max_version", "maximum_version", "TLS13")):
        version = str(tls.get(name) or default)
        if version not in VERSIONS:
            problems.append((where(name), f"tls_server_config.{name}",
                             f"{version!r} nicht erlaubt: TLS12 oder TLS13 (ältere Versionen nach BSI TR-02102-2 nicht)"))
        else:
            setattr(context, field, VERSIONS[version])
    try:
        context.load_cert_chain(str(cert), str(key))
    except (OSError, ssl.SSLError) as exc:
        problems.append((where("cert_file"), "tls_server_config.cert_file",
                         f"Zertifikat {cert} oder Schlüssel {key} nicht ladbar ({exc}); PEM-Dateien und Pfade prüfen"))
    auth = str(tls.get("client_auth_type") or "NoClientCert")
    if auth not in CLIENT_AUTH:
        problems.append((where("client_auth_type"), "tls_server_config.client_auth_type",
                         f"{auth!r} unbekannt; möglich: {', '.join(CLIENT_AUTH)}"))
    else:
        context.verify_mode = CLIENT_AUTH[auth]
        client_ca = file("client_ca_file")
        if context.verify_mode != ssl.CERT_NONE:
            if client_ca is None:
                problems.append((where("client_auth_type"), "tls_server_config.client_ca_file",
                                 f"{auth} braucht client_ca_file (die CA der Client-Zertifikate)"))
            else:
                try:
                    context.load_verify_locations(cafile=str(client_ca))
                except (OSError, ssl.SSLError) as exc:
                    problems.append((where("client_ca_file"), "tls_server_config.client_ca_file",
                                     f"{client_ca} nicht ladbar ({exc})"))
    return context
