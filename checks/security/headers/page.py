"""A small HTML scanner: <meta> and <script> start tags only (what the analysers read)."""

from __future__ import annotations

import dataclasses
import functools
import html
import re

# --- a small HTML scanner: <meta> and <script> start tags only --------------------------

_TOKENS = re.compile(r"<!--|<(/?)(script|meta|style|template|textarea|title)(?=[\s/>])", re.IGNORECASE)
_ATTR = re.compile(r"""[\s/]*(?:([^\s"'>/=][^\s>/=]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]*)))?)?""")


_END_TAG = {t: re.compile(f"</{t}", re.IGNORECASE) for t in ("script", "style", "textarea", "title")}


@dataclasses.dataclass(slots=True)
class Page:
    http_equiv: dict[str, list[str]]
    scripts: list[dict[str, str]]  # attributes of every <script>, inline ones included


def _attributes(text: str, pos: int) -> tuple[dict[str, str], int]:
    """Attributes of the start tag whose name ended at `pos`; returns them and the end."""
    attrs: dict[str, str] = {}
    n = len(text)
    while pos < n:
        if text[pos] == ">":
            return attrs, pos + 1
        m = _ATTR.match(text, pos)
        if m is None or m.end() == pos:
            pos += 1  # a stray character the pattern does not take: skip it, as browsers do
            continue
        name = m.group(1)
        if name is not None:
            name = name.lower()
            if name not in attrs:  # the first of duplicate attributes wins
                value = m.group(2) if m.group(2) is not None else m.group(3) if m.group(3) is not None else m.group(4) or ""
                attrs[name] = html.unescape(value) if "&" in value else value
        pos = m.end()
    return attrs, n


@functools.lru_cache(maxsize=256)
def parse_page(body: str) -> Page:
    equiv: dict[str, list[str]] = {"content-security-policy": []}
    scripts: list[dict[str, str]] = []
    template_depth = 0
    pos = 0
    while True:
        m = _TOKENS.search(body, pos)
        if m is None:
            break
        if m.group(0) == "<!--":
            end = body.find("-->", m.end())
            pos = len(body) if end < 0 else end + 3
            continue
        closing, tag = m.group(1), m.group(2).lower()
        if tag == "template":
            template_depth = max(0, template_depth + (-1 if closing else 1))
            pos = body.find(">", m.end()) + 1 or len(body)
            continue
        if closing:
            pos = m.end()
            continue
        attrs, pos = _attributes(body, m.end())
        if tag in ("script", "style", "textarea", "title"):
            # raw text: nothing inside is a tag, up to the matching end tag
            end_match = _END_TAG[tag].search(body, pos)
            if tag == "script" and template_depth == 0:
                scripts.append(attrs)
            pos = len(body) if end_match is None else end_match.start()
            continue
        if template_depth:
            continue
        # tag == "meta"
        if "http-equiv" in attrs and "content" in attrs:
            content = attrs["content"]
            if content and attrs["http-equiv"].lower().strip() == "content-security-policy":
                equiv["content-security-policy"].append(content)
        elif attrs.get("name", "").lower().strip() == "referrer" and attrs.get("content"):
            equiv["referrer-policy"] = [attrs["content"]]
    return Page(equiv, scripts)
