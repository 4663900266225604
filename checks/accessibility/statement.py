"""The accessibility statement (Erklärung zur Barrierefreiheit), found by what it must say
and audited against the model statement of Implementing Decision (EU) 2018/1523 and
BITV 2.0: Vereinbarkeitsstatus, the non-accessible content, the date it was made or last
reviewed, the method, an electronic feedback contact and the Schlichtungsverfahren.

A page is only taken for the statement when it reads like one (its status sentence, or a
legal basis together with two of the model's sections): a footer link "Barrierefreiheit"
to a page about ramps and lifts in the town hall is no statement, and its "Stand" date or
its e-mail address then prove nothing.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from checks.page import Link, fold

_STATUS = re.compile(r"\b(nicht\s+vollstaendig|vollstaendig|teilweise|nicht)\b((?:\s+[^\s.;:]+){0,14}?)\s+vereinbar\b")
_STATUS_EN = re.compile(r"\b(fully|partially|not)\s+compliant\b")
_LEGAL = re.compile(r"\bbitv\b|barrierefreie-informationstechnik-verordnung|§\s*12a|\b12a\s+bgg|"
                    r"behindertengleichstellungsgesetz|2016/2102|en\s*301\s*549|\bwcag\b|\bsbgg\b")
_NON_ACCESSIBLE = re.compile(r"nicht\s+barrierefreie(?:n)?\s+inhalte|(?:folgende|diese)\s+inhalte\s+sind\s+"
                             r"(?:noch\s+)?nicht\s+(?:vollstaendig\s+)?barrierefrei|nicht\s+barrierefrei\s+sind")
_CREATED = re.compile(r"erstellt|erstellung\s+dieser\s+erklaerung|diese\s+erklaerung\s+wurde\s+am")
_REVIEWED = re.compile(r"ueberprueft|aktualisiert|zuletzt|ueberarbeitet|\bstand\b")
_FEEDBACK_HEADING = re.compile(r"feedback|barriere(?:n)?\s+melden|rueckmeldung|kontaktangaben|kontaktmoeglichkeit")
_ARBITRATION = re.compile(r"schlichtungsstelle|schlichtungsverfahren|schlichtung")
_METHODS = ((re.compile(r"selbstbewertung|selbsteinschaetzung|selbst\s+bewertet|eigene\s+pruefung"), "Selbstbewertung"),
            (re.compile(r"bitv-test|bitv\s+test"), "BITV-Test"),
            (re.compile(r"pruefung\s+durch|externe(?:n)?\s+pruef|pruefstelle|gutachten|audit|dritte"),
             "Prüfung durch Dritte"))
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# The role of a contact, from the section it stands in (the last cue before it wins): the
# operator's own feedback contact (BITV 2.0 § 7 (1) Nr. 3) or the arbitration body (Nr. 4),
# whose address is another required element and never the feedback mechanism.
_FEEDBACK_CUE = re.compile(r"feedback|barriere(?:n)?\s+melden|rueckmeldung|kontaktangaben|kontaktmoeglichkeit|"
                           r"kontakt\b|wenden\s+sie\s+sich\s+an\s+uns|teilen\s+sie\s+(?:uns|es\s+uns)\s+mit")
_ARBITRATION_CUE = re.compile(r"schlichtung|ombuds|durchsetzungsverfahren|beauftragte[nr]?\s+(?:der\s+bundesregierung\s+)?"
                              r"fuer\s+die\s+belange|landesbeauftragte|ueberwachungsstelle")
_FORM_WORDS = re.compile(r"kontaktformular|formular|barriere(?:n)?\s+melden|feedback|online-?melde")
_MONTHS = {"januar": 1, "jaenner": 1, "februar": 2, "maerz": 3, "april": 4, "mai": 5, "juni": 6, "juli": 7,
           "august": 8, "september": 9, "oktober": 10, "november": 11, "dezember": 12}
_DATE_PATTERNS = (
    (re.compile(r"\b(\d{1,2})\.\s?(\d{1,2})\.\s?(\d{4})\b"), lambda m: date(int(m[3]), int(m[2]), int(m[1]))),
    (re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b"), lambda m: date(int(m[1]), int(m[2]), int(m[3]))),
    (re.compile(r"\b(\d{1,2})\.\s?(" + "|".join(_MONTHS) + r")\s+(\d{4})\b"),
     lambda m: date(int(m[3]), _MONTHS[m[2]], int(m[1]))),
    (re.compile(r"\b(" + "|".join(_MONTHS) + r")\s+(\d{4})\b"), lambda m: date(int(m[2]), _MONTHS[m[1]], 1)),
)
STATUS_DE = {"full": "vollständig vereinbar", "partial": "teilweise vereinbar", "none": "nicht vereinbar"}
REQUIRED_DE = {"status": "Vereinbarkeitsstatus", "non_accessible": "nicht barrierefreie Inhalte",
               "date": "Datum der Erstellung oder Überprüfung", "method": "Methode der Bewertung",
               "feedback": "elektronische Kontaktmöglichkeit (Feedback)", "arbitration": "Schlichtungsverfahren"}


@dataclasses.dataclass(frozen=True, slots=True)
class Statement:
    """What an accessibility statement says, as far as its text shows it."""

    url: str
    status: str | None  # full, partial, none (STATUS_DE)
    status_text: str
    legal_basis: bool
    non_accessible: bool  # the section on content that is not accessible
    non_accessible_items: int  # lines listed under it (an estimate from the text's lines)
    created: date | None
    reviewed: date | None
    method: str | None
    emails: tuple[str, ...]
    forms: tuple[str, ...]  # links to an online contact or feedback form
    feedback_heading: bool
    arbitration: bool
    arbitration_contacts: tuple[str, ...] = ()  # addresses of the arbitration body: never the feedback contact

    @property
    def is_statement(self) -> bool:
        """Reads like a statement: its status sentence, or a legal basis and two of the model's sections."""
        sections = sum((self.non_accessible, self.feedback_heading, self.arbitration, self.created is not None))
        return self.status is not None or (self.legal_basis and sections >= 2)

    @property
    def electronic_contact(self) -> bool:
        return bool(self.emails or self.forms)

    @property
    def newest_date(self) -> date | None:
        dates = [d for d in (self.created, self.reviewed) if d is not None]
        return max(dates) if dates else None

    def missing(self) -> list[str]:
        """Required elements the statement lacks (REQUIRED_DE keys)."""
        out = []
        if self.status is None:
            out.append("status")
        if not self.non_accessible and self.status != "full":
            out.append("non_accessible")
        if self.newest_date is None:
            out.append("date")
        if self.method is None:
            out.append("method")
        if not self.electronic_contact:
            out.append("feedback")
        if not self.arbitration:
            out.append("arbitration")
        return out

    def facts(self) -> dict[str, Any]:
        return {"statement": self.url, "status": self.status, "status_text": self.status_text[:200],
                "created": self.created.isoformat() if self.created else None,
                "reviewed": self.reviewed.isoformat() if self.reviewed else None, "method": self.method,
                "non_accessible_items": self.non_accessible_items, "emails": list(self.emails[:3]),
                "forms": list(self.forms[:3])}

    def why_not(self) -> str:
        """German: why this page is not taken for the statement."""
        return ("kein Vereinbarkeitsstatus (vollständig/teilweise/nicht vereinbar) und keine Rechtsgrundlage "
                "mit zwei Abschnitten der Mustererklärung (nicht barrierefreie Inhalte, Feedback, "
                "Schlichtungsverfahren, Erstellungsdatum)")


def _dates(folded: str, context: re.Pattern[str], today: date) -> list[date]:
    found = []
    for pattern, build in _DATE_PATTERNS:
        for m in pattern.finditer(folded):
            try:
                day = build(m)
            except (ValueError, KeyError):
                continue
            around = folded[max(0, m.start() - 80):m.start()] + " " + folded[m.end():m.end() + 30]
            if day <= today and context.search(around):
                found.append(day)
    return found


def _status(folded: str) -> tuple[str | None, str]:
    for m in _STATUS.finditer(folded):
        word, between = m.group(1), m.group(2)
        if "barrierefrei" in between:  # "nicht barrierefrei ... vereinbar" is no status sentence
            continue
        if word.startswith("nicht") and ("vollstaendig" in word or "vollstaendig" in between):
            return "partial", m.group(0)
        return {"vollstaendig": "full", "teilweise": "partial", "nicht": "none"}[word.split()[0]], m.group(0)
    english = _STATUS_EN.search(folded)
    if english:
        return {"fully": "full", "partially": "partial", "not": "none"}[english.group(1)], english.group(0)
    return None, ""


def _listed(text: str, folded: str) -> int:
    """Lines under the non-accessible section, up to the next section of the model statement."""
    m = _NON_ACCESSIBLE.search(folded)
    if m is None:
        return 0
    rest = folded[m.end():m.end() + 4000]
    stop = re.search(r"feedback|kontakt|schlichtung|erstellung|barriere(?:n)?\s+melden", rest)
    part = rest[:stop.start()] if stop else rest
    return sum(1 for line in part.splitlines()[1:] if len(line.strip()) > 3)


def _role(folded: str, needle: str, itself: str) -> str:
    """feedback or arbitration: a contact's role, from itself (an address or link naming the
    Schlichtungsstelle) or the last section cue before where it stands in the text."""
    if _ARBITRATION_CUE.search(itself):
        return "arbitration"
    at = folded.find(needle) if needle else -1
    if at < 0:
        return "feedback"
    before = folded[max(0, at - 600):at]
    last_feedback = max((m.end() for m in _FEEDBACK_CUE.finditer(before)), default=-1)
    last_arbitration = max((m.end() for m in _ARBITRATION_CUE.finditer(before)), default=-1)
    return "arbitration" if last_arbitration > last_feedback else "feedback"


def read(url: str, text: str, links: tuple[Link, ...], today: date) -> Statement:
    """Parse a candidate page's rendered text and links."""
    folded = fold(text)
    status, status_text = _status(folded)
    created = _dates(folded, _CREATED, today)
    reviewed = _dates(folded, _REVIEWED, today)
    method = next((name for pattern, name in _METHODS if pattern.search(folded)), None)
    contacts = {m.group(0): _role(folded, fold(m.group(0)), fold(m.group(0))) for m in _EMAIL.finditer(text)}
    for x in links:
        if x.href.lower().startswith("mailto:") and "@" in x.href:
            address = x.href[7:].split("?")[0]
            contacts.setdefault(address, _role(folded, fold(x.label) or fold(address), fold(x.href + " " + x.label)))
    emails = {a for a, role in contacts.items() if role == "feedback"}
    here = url.split("#")[0]
    forms = tuple(dict.fromkeys(x.href for x in links if x.href.startswith(("http://", "https://"))
                                and x.href.split("#")[0] != here  # a jump to its own heading is no form
                                and (_FORM_WORDS.search(fold(x.label)) or "formular" in fold(urlsplit(x.href).path))
                                and _role(folded, fold(x.label), fold(x.href + " " + x.label)) == "feedback"))
    return Statement(url=url, status=status, status_text=status_text, legal_basis=bool(_LEGAL.search(folded)),
                     non_accessible=bool(_NON_ACCESSIBLE.search(folded)), non_accessible_items=_listed(text, folded),
                     created=max(created) if created else None, reviewed=max(reviewed) if reviewed else None,
                     method=method, emails=tuple(sorted(emails)), forms=forms,
                     feedback_heading=bool(_FEEDBACK_HEADING.search(folded)),
                     arbitration=bool(_ARBITRATION.search(folded)),
                     arbitration_contacts=tuple(sorted(a for a, role in contacts.items() if role == "arbitration")))
