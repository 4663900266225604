"""Page discovery from a site's sitemap (sitemaps.org protocol): index files followed,
gzip handled, same host only, every download bounded in time and size.

Used by checks that scan a sample of a site's pages. ElementTree never resolves external
entities, and the expat of Python 3.12 refuses entity expansion bombs.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import xml.etree.ElementTree as ET
from urllib.parse import urljoin, urlsplit

from checks.httpprobe import FetchOptions, fetch
from checks.proxy import Proxy


@dataclasses.dataclass(frozen=True, slots=True)
class SitemapPages:
    urls: tuple[str, ...]  # page URLs on the site's host, in document order, without duplicates
    files: tuple[str, ...]  # sitemap files read
    errors: tuple[str, ...]  # what went wrong, per file (German, for the evidence)


def _host(url: str) -> str:
    """Host and port, `www.` ignored: the unit a sitemap may list pages for."""
    parts = urlsplit(url)
    try:
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme, 0)
    except ValueError:
        return ""
    return f"{(parts.hostname or '').lower().removeprefix('www.')}:{port}"


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _decompress(body: bytes, limit: int) -> bytes:
    if body[:2] != b"\x1f\x8b":
        return body
    with gzip.GzipFile(fileobj=io.BytesIO(body)) as gz:
        data = gz.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"entpackt größer als {limit} Bytes")
    return data


def parse(body: bytes) -> tuple[list[str], list[str]]:
    """(page URLs, child sitemap URLs) of one sitemap or sitemap index document."""
    root = ET.fromstring(body)
    pages: list[str] = []
    children: list[str] = []
    kind = _local(root.tag)
    for entry in root:
        loc = next((c.text for c in entry if _local(c.tag) == "loc" and c.text), None)
        if not loc:
            continue
        (children if kind == "sitemapindex" else pages).append(loc.strip())
    return pages, children


def _robots_sitemaps(site: str, options: FetchOptions) -> list[str]:
    out = fetch(urljoin(site, "/robots.txt"), options)
    if out.error is not None or out.status != 200:
        return []
    found = []
    for line in out.body.decode("utf-8", "replace").splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() == "sitemap" and value.strip():
            found.append(value.strip())
    return found


def discover(site: str, sitemap_url: str | None = None, *, max_files: int = 20, timeout: float = 15.0,
             max_bytes: int = 10 * 1024 * 1024, ca_file: str | None = None, proxy: Proxy | None = None,
             host_rules: tuple[tuple[str, str], ...] = ()) -> SitemapPages:
    """Page URLs on `site`'s host from its sitemap(s): the given URL, robots.txt, or /sitemap.xml
    (fetched through `proxy` unless the host is in its no_proxy; `host_rules`: browser.hosts)."""
    options = FetchOptions(timeout=timeout, max_body_bytes=max_bytes, max_redirects=5, proxy=proxy,
                           ca_file=str(ca_file) if ca_file else None, host_rules=host_rules,
                           headers=(("Accept", "application/xml, text/xml;q=0.9, */*;q=0.1"),))
    host = _host(site)
    queue = [sitemap_url] if sitemap_url else (_robots_sitemaps(site, options) or [urljoin(site, "/sitemap.xml")])
    seen: set[str] = set()
    files: list[str] = []
    errors: list[str] = []
    pages: dict[str, None] = {}
    while queue and len(files) < max_files:
        url = queue.pop(0)
        if url in seen or _host(url) != host:
            continue
        seen.add(url)
        files.append(url)
        out = fetch(url, options)
        if out.error is not None:
            errors.append(f"{url}: {out.error.detail}")
            continue
        if out.status != 200:
            errors.append(f"{url}: HTTP-Status {out.status}")
            continue
        try:
            page_urls, children = parse(_decompress(out.body, max_bytes))
        except (ET.ParseError, ValueError, OSError, EOFError) as exc:
            errors.append(f"{url}: kein gültiges Sitemap-XML ({str(exc)[:120]})")
            continue
        queue.extend(children)
        for page in page_urls:
            if _host(page) == host and urlsplit(page).scheme in ("http", "https"):
                pages.setdefault(page, None)
    return SitemapPages(tuple(pages), tuple(files), tuple(errors))
