"""BSI TR-02102-2 for TLS: the recommended suites of TLS 1.2 and 1.3 and the class of any
suite (OpenSSL names); the web server's TLS scan and the mail hosts' STARTTLS judge by it."""

from __future__ import annotations

import functools
import ssl
from typing import Any

ENUMERATE_ALL = "ALL:COMPLEMENTOFALL:@SECLEVEL=0"  # every suite this OpenSSL can still offer

# BSI TR-02102-2 (2024-01), tables for TLS 1.2 (without PSK suites), OpenSSL names.
TR02102_TLS12 = frozenset({
    "ECDHE-ECDSA-AES128-SHA256", "ECDHE-ECDSA-AES256-SHA384", "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-AES128-CCM", "ECDHE-ECDSA-AES256-CCM",
    "ECDHE-RSA-AES128-SHA256", "ECDHE-RSA-AES256-SHA384", "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "DHE-DSS-AES128-SHA256", "DHE-DSS-AES256-SHA256", "DHE-DSS-AES128-GCM-SHA256", "DHE-DSS-AES256-GCM-SHA384",
    "DHE-RSA-AES128-SHA256", "DHE-RSA-AES256-SHA256", "DHE-RSA-AES128-GCM-SHA256", "DHE-RSA-AES256-GCM-SHA384",
    "DHE-RSA-AES128-CCM", "DHE-RSA-AES256-CCM",
})
TR02102_TLS13 = frozenset({"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_AES_128_CCM_SHA256"})
# Suite classes, worst first; the class of a suite decides its finding.
SUITE_CLASSES = ("broken", "no-forward-secrecy", "sha1-mac", "outside-tables", "recommended")
_BROKEN_SYMMETRIC = ("rc4", "des", "null", "none", "idea", "seed", "rc2")


@functools.cache
def _suites() -> dict[str, dict[str, Any]]:
    """Every suite this OpenSSL knows, with its properties (name -> get_ciphers() entry)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.set_ciphers(ENUMERATE_ALL)
    return {c["name"]: dict(c) for c in ctx.get_ciphers()}


def suite_class(name: str) -> str:
    """What TR-02102-2 says of a suite (OpenSSL name): one of SUITE_CLASSES."""
    if name in TR02102_TLS12 or name in TR02102_TLS13:
        return "recommended"
    info = _suites().get(name)
    if info is None:  # unknown to this OpenSSL: judge by its name
        upper = name.upper()
        if any(b in upper for b in ("RC4", "DES", "NULL", "EXP", "MD5", "ANON", "ADH", "AECDH")):
            return "broken"
        return "outside-tables" if upper.startswith(("ECDHE", "DHE", "TLS_")) else "no-forward-secrecy"
    symmetric = str(info.get("symmetric") or "none")
    if (any(symmetric.startswith(b) for b in _BROKEN_SYMMETRIC) or info.get("digest") == "md5"
            or info.get("auth") == "auth-null"):
        return "broken"
    if info.get("kea") not in ("kx-ecdhe", "kx-dhe", "kx-any"):
        return "no-forward-secrecy"
    if not info.get("aead") and info.get("digest") == "sha1":
        return "sha1-mac"
    return "outside-tables"
