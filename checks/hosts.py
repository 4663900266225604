"""Host names: IP literals and registrable domains (the bundled public suffix list, offline)."""

from __future__ import annotations

import functools
import re
from typing import Any


@functools.lru_cache(maxsize=1)
def _extractor() -> Any:
    import tldextract

    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, include_psl_private_domains=False)


@functools.lru_cache(maxsize=4096)
def registrable_domain(host: str) -> str | None:
    """The registrable domain of `host` as tldts (the reference's library) reports it."""
    host = host.lower().strip(".")
    if not host or is_ip(host):
        return None
    ext = _extractor()(host)
    if ext.suffix:
        return f"{ext.domain}.{ext.suffix}" if ext.domain else None
    labels = host.split(".")
    return ".".join(labels[-2:]) if len(labels) >= 2 else None  # unknown TLD: tldts' default rule "*"


def is_ip(host: str) -> bool:
    return bool(re.fullmatch(r"[\d.]+", host)) or ":" in host
