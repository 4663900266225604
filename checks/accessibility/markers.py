"""The BITV 2.0 markers: the accessibility statement, Leichte Sprache, Gebärdensprache, html lang."""

from __future__ import annotations

import re
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from checks.accessibility.axe import PageScan
from checks.accessibility.statement import REQUIRED_DE, STATUS_DE
from checks.accessibility.statement import read as read_statement
from checks.page import Link, Marker, fold

_STATEMENT_TEXT = re.compile(r"erklaerung zur barrierefreiheit|barrierefreiheitserklaerung|"
                             r"erklaerung (?:der|über die|ueber die) barrierefreiheit|accessibility statement")
_STATEMENT_WEAK = re.compile(r"\bbarrierefreiheit\b|\bbarrierefrei\b")
_STATEMENT_URL = re.compile(r"barrierefreiheit|barrierefrei|accessibility")
_EASY_LANGUAGE = re.compile(r"leichte[\s_-]*sprache|leichtesprache")
_SIGN_LANGUAGE = re.compile(r"gebaerdensprache|gebardensprache|\bdgs\b")
# ... content in DGS, not a service about it: booking interpreters for an appointment is no
# information in sign language
_SIGN_SERVICE = re.compile(r"dolmetsch|buchen|buchung|bestell|termin|anfordern|beantragen|kosten")


_STATEMENT_TESTS = (lambda x: _STATEMENT_TEXT.search(fold(x.label)),
                    lambda x: _STATEMENT_WEAK.search(fold(x.label)) and "melden" not in fold(x.label),
                    lambda x: _STATEMENT_URL.search(fold(urlsplit(x.href).path)))


def _statement_link_of(links: tuple[Link, ...], strength: int) -> Link | None:
    test = _STATEMENT_TESTS[strength]
    return next((x for x in links if x.href.startswith(("http://", "https://")) and test(x)), None)


def statement_link(links: tuple[Link, ...]) -> Link | None:
    """The link to the accessibility statement: by its words first, then by a weaker word, then by URL."""
    for strength in range(len(_STATEMENT_TESTS)):
        link = _statement_link_of(links, strength)
        if link is not None:
            return link
    return None


def first_statement_link(pages: list[PageScan]) -> Link | None:
    """The statement link of the first loaded page that has one."""
    return next((link for p in pages if p.final_url and (link := statement_link(p.links)) is not None), None)


def _find_link(links: tuple[Link, ...], pattern: re.Pattern[str],
               unless: re.Pattern[str] | None = None) -> Link | None:
    for link in links:
        label, path = fold(link.label), fold(urlsplit(link.href).path)
        if unless is not None and (unless.search(label) or unless.search(path)):
            continue
        if pattern.search(label) or pattern.search(path):
            return link
    return None


def statement_candidates(pages: list[PageScan], limit: int = 3) -> list[Link]:
    """Distinct link targets that may be the statement, strongest wording first, over all loaded pages."""
    out: dict[str, Link] = {}
    for strength in range(3):
        for p in pages:
            if not p.final_url:
                continue
            link = _statement_link_of(p.links, strength)
            if link is not None:
                out.setdefault(link.href.split("#")[0], link)
    return list(out.values())[:limit]


def judge_markers(pages: list[PageScan], statement: tuple[str | None, str | None, tuple[Link, ...]] | None,
                  statement_url: str | None, wanted: list[str], today: date, max_age_days: int,
                  serious_rules: int = 0) -> dict[str, Marker]:
    """Judge each wanted BITV marker from the scanned pages and the statement's text.

    `statement` is what the candidate at `statement_url` gave (text, error, links); it counts
    only when it reads like a statement (`statement.read(...).is_statement`). `serious_rules`:
    critical or serious axe rules the scan found (the statement's status must not deny them)."""
    out: dict[str, Marker] = {}
    start = pages[0] if pages else None
    loaded = [p for p in pages if p.final_url]  # pages whose DOM we saw (axe may still have failed)
    text, error, st_links = statement or (None, None, ())
    parsed = read_statement(statement_url, text, st_links, today) if statement_url and text is not None else None
    found = parsed if parsed is not None and parsed.is_statement else None
    if statement_url is None:
        missing_detail = "nicht bestimmbar: keine Erklärung zur Barrierefreiheit gefunden"
    elif text is None:
        missing_detail = f"Erklärung nicht lesbar: {error}"
    else:
        missing_detail = f"nicht bestimmbar: {statement_url} ist keine Erklärung zur Barrierefreiheit"
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
            if parsed is not None and found is None:
                ev["detail"] = f"die verlinkte Seite ist keine Erklärung zur Barrierefreiheit: {parsed.why_not()}"
            out["statement_linked"] = Marker("fail" if missing or (parsed is not None and found is None) else "pass", ev)
    dependent: list[str] = [m for m in ("statement_feedback", "statement_arbitration", "statement_current",
                             "statement_consistent", "statement_complete") if m in wanted]
    # No statement at all (none linked, or the linked page is none): the requirement each content
    # marker checks is unmet, so they fail with that reason (statement_consistent has nothing to
    # contradict: unknown). A statement that could not be read stays unknown.
    absent = bool(loaded) and (statement_url is None or (parsed is not None and found is None))
    for name in dependent:
        if found is None:
            facts: dict[str, Any] = {"detail": missing_detail}
            if statement_url:
                facts["statement"] = statement_url
            if absent and name != "statement_consistent":
                facts["detail"] = "keine Erklärung gefunden" + (
                    f": {statement_url} ist keine Erklärung zur Barrierefreiheit" if statement_url else "")
                out[name] = Marker("fail", facts)
            else:
                out[name] = Marker("unknown", facts)
            continue
        base = {"statement": found.url}
        if name == "statement_feedback":
            if found.electronic_contact:
                out[name] = Marker("pass", {**base, "found": (list(found.emails) + list(found.forms))[0][:200]})
            else:
                detail = ("keine elektronische Kontaktmöglichkeit (E-Mail-Adresse oder Kontaktformular), nur Post "
                          "oder Telefon" if found.feedback_heading else "kein Feedback-Mechanismus")
                if found.arbitration_contacts:
                    detail += (" (die Adresse der Schlichtungsstelle, " + ", ".join(found.arbitration_contacts[:2])
                               + ", ist keine Kontaktmöglichkeit des Betreibers)")
                out[name] = Marker("fail", {**base, "detail": detail})
        elif name == "statement_arbitration":
            out[name] = Marker("pass" if found.arbitration else "fail", base)
        elif name == "statement_current":
            newest = found.newest_date
            if newest is None:
                out[name] = Marker("unknown", {**base, "detail": "kein Datum der Erstellung oder Überprüfung gefunden"})
            else:
                age = (today - newest).days
                out[name] = Marker("pass" if age <= max_age_days else "fail",
                                   {**base, "date": newest.isoformat(), "age_days": age})
        elif name == "statement_consistent":
            if found.status is None:
                out[name] = Marker("unknown", {**base, "detail": "kein Vereinbarkeitsstatus in der Erklärung"})
            else:
                contradicts = found.status == "full" and serious_rules > 0
                facts = {**base, "status": found.status, "serious_rules": serious_rules}
                if contradicts:
                    facts["detail"] = (f"die Erklärung nennt die Seite „{STATUS_DE['full']}“, die Prüfung fand "
                                       f"{serious_rules} Regeln mit kritischen oder schweren Barrieren")
                out[name] = Marker("fail" if contradicts else "pass", facts)
        elif name == "statement_complete":
            missing_parts = found.missing()
            facts = {**found.facts()}
            if missing_parts:
                facts["missing"] = missing_parts
                facts["detail"] = "es fehlt: " + ", ".join(REQUIRED_DE[m] for m in missing_parts)
            out[name] = Marker("fail" if missing_parts else "pass", facts)
    for name, pattern in (("easy_language", _EASY_LANGUAGE), ("sign_language", _SIGN_LANGUAGE)):
        if name not in wanted:
            continue
        if start is None or not start.final_url:
            out[name] = Marker("unknown", {"detail": "Startseite nicht geladen"})
            continue
        link = _find_link(start.links, pattern, _SIGN_SERVICE if name == "sign_language" else None)
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
