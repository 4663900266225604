"""The BITV 2.0 markers: the accessibility statement, Leichte Sprache, Gebärdensprache, html lang."""

from __future__ import annotations

import re
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from checks.accessibility.axe import PageScan
from checks.page import Link, Marker, fold

_STATEMENT_TEXT = re.compile(r"erklaerung zur barrierefreiheit|barrierefreiheitserklaerung|"
                             r"erklaerung (?:der|über die|ueber die) barrierefreiheit|accessibility statement")
_STATEMENT_WEAK = re.compile(r"\bbarrierefreiheit\b|\bbarrierefrei\b")
_STATEMENT_URL = re.compile(r"barrierefreiheit|barrierefrei|accessibility")
_EASY_LANGUAGE = re.compile(r"leichte[\s_-]*sprache|leichtesprache")
_SIGN_LANGUAGE = re.compile(r"gebaerdensprache|gebardensprache|\bdgs\b|gebaerden")
_FEEDBACK = re.compile(r"feedback|barriere melden|barrieren melden|rueckmeldung|kontaktformular|kontakt|"
                       r"mailto:|[\w.+-]+@[\w-]+\.[\w.-]+")
_ARBITRATION = re.compile(r"schlichtungsstelle|schlichtungsverfahren|schlichtung")
_MONTHS = {"januar": 1, "jaenner": 1, "februar": 2, "maerz": 3, "april": 4, "mai": 5, "juni": 6, "juli": 7,
           "august": 8, "september": 9, "oktober": 10, "november": 11, "dezember": 12}
_DATE_PATTERNS = (
    (re.compile(r"\b(\d{1,2})\.\s?(\d{1,2})\.\s?(\d{4})\b"), lambda m: date(int(m[3]), int(m[2]), int(m[1]))),
    (re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b"), lambda m: date(int(m[1]), int(m[2]), int(m[3]))),
    (re.compile(r"\b(\d{1,2})\.\s?(" + "|".join(_MONTHS) + r")\s+(\d{4})\b"),
     lambda m: date(int(m[3]), _MONTHS[m[2]], int(m[1]))),
    (re.compile(r"\b(" + "|".join(_MONTHS) + r")\s+(\d{4})\b"), lambda m: date(int(m[2]), _MONTHS[m[1]], 1)),
)
_DATE_CONTEXT = re.compile(r"stand|erstellt|ueberprueft|aktualisiert|datum|zuletzt|letzte")


def statement_link(links: tuple[Link, ...]) -> Link | None:
    """The link to the accessibility statement: by its words first, then by a weaker word, then by URL."""
    for test in (lambda x: _STATEMENT_TEXT.search(fold(x.label)),
                 lambda x: _STATEMENT_WEAK.search(fold(x.label)) and "melden" not in fold(x.label),
                 lambda x: _STATEMENT_URL.search(fold(urlsplit(x.href).path))):
        for link in links:
            if link.href.startswith(("http://", "https://")) and test(link):
                return link
    return None


def first_statement_link(pages: list[PageScan]) -> Link | None:
    """The statement link of the first loaded page that has one."""
    return next((link for p in pages if p.final_url and (link := statement_link(p.links)) is not None), None)


def _find_link(links: tuple[Link, ...], pattern: re.Pattern[str]) -> Link | None:
    for link in links:
        if pattern.search(fold(link.label)) or pattern.search(fold(urlsplit(link.href).path)):
            return link
    return None


def statement_dates(text: str) -> list[tuple[date, bool]]:
    """Every date in the statement, with whether words like 'Stand' or 'erstellt' stand just before it."""
    folded = fold(text)
    found = []
    for pattern, build in _DATE_PATTERNS:
        for m in pattern.finditer(folded):
            try:
                day = build(m)
            except (ValueError, KeyError):
                continue
            context = folded[max(0, m.start() - 60):m.start()]
            found.append((day, bool(_DATE_CONTEXT.search(context))))
    return found


def judge_markers(pages: list[PageScan], statement: tuple[str | None, str | None, tuple[Link, ...]] | None,
                  statement_url: str | None, wanted: list[str], today: date, max_age_days: int) -> dict[str, Marker]:
    """Judge each wanted BITV marker from the scanned pages and the statement's text."""
    out: dict[str, Marker] = {}
    start = pages[0] if pages else None
    loaded = [p for p in pages if p.final_url]  # pages whose DOM we saw (axe may still have failed)
    if "statement_linked" in wanted:
        if not loaded:
            out["statement_linked"] = Marker("unknown", {"detail": "keine Seite geladen"})
        else:
            missing = [p.url for p in loaded if statement_link(p.links) is None]
            link = first_statement_link(loaded)
            ev: dict[str, Any] = {"pages": len(loaded)}
            if link:
                ev["link"] = link.to_dict()
            if missing:
                ev["missing_on"] = missing[:20]
            out["statement_linked"] = Marker("fail" if missing else "pass", ev)
    text, error, st_links = statement or (None, None, ())
    for name, pattern in (("statement_feedback", _FEEDBACK), ("statement_arbitration", _ARBITRATION)):
        if name not in wanted:
            continue
        if statement_url is None:  # statement_linked fails for that; these cannot be judged without it
            out[name] = Marker("unknown", {"detail": "nicht bestimmbar: keine Erklärung zur Barrierefreiheit gefunden"})
        elif text is None:
            out[name] = Marker("unknown", {"statement": statement_url, "detail": f"Erklärung nicht lesbar: {error}"})
        else:
            haystack = fold(text) + " " + " ".join(fold(x.href) for x in st_links if x.href.startswith("mailto:"))
            m = pattern.search(haystack)
            ev = {"statement": statement_url}
            if m:
                ev["found"] = m.group(0)[:100]
            out[name] = Marker("pass" if m else "fail", ev)
    if "statement_current" in wanted:
        if statement_url is None:
            out["statement_current"] = Marker("unknown",
                                              {"detail": "nicht bestimmbar: keine Erklärung zur Barrierefreiheit gefunden"})
        elif text is None:
            out["statement_current"] = Marker("unknown", {"statement": statement_url, "detail": f"Erklärung nicht lesbar: {error}"})
        else:
            dates = [(d, ctx) for d, ctx in statement_dates(text) if d <= today]
            preferred = [d for d, ctx in dates if ctx] or [d for d, _ in dates]
            if not preferred:
                out["statement_current"] = Marker("unknown", {"statement": statement_url, "detail": "kein Datum gefunden"})
            else:
                newest = max(preferred)
                age = (today - newest).days
                out["statement_current"] = Marker("pass" if age <= max_age_days else "fail",
                                                  {"statement": statement_url, "date": newest.isoformat(), "age_days": age})
    for name, pattern in (("easy_language", _EASY_LANGUAGE), ("sign_language", _SIGN_LANGUAGE)):
        if name not in wanted:
            continue
        if start is None or not start.final_url:
            out[name] = Marker("unknown", {"detail": "Startseite nicht geladen"})
            continue
        link = _find_link(start.links, pattern)
        out[name] = Marker("pass" if link else "fail", {"link": link.to_dict()} if link else {"page": start.url})
    if "html_lang" in wanted:
        if start is None or not start.final_url:
            out["html_lang"] = Marker("unknown", {"detail": "Startseite nicht geladen"})
        else:
            langs = {p.url: p.lang for p in loaded}
            start_ok = bool(start.lang) and fold(start.lang or "").split("-")[0] == "de"
            without = [u for u, lang in langs.items() if not (lang or "").strip()]
            ev = {"start_page_lang": start.lang}
            if without:
                ev["missing_on"] = without[:20]
            out["html_lang"] = Marker("pass" if start_ok and not without else "fail", ev)
    return out
