"""Satisfaction figures from a survey or feedback CSV (the Pakt asks for them; probes cannot measure them).

Format (UTF-8, comma or semicolon separated, header row required):

    service,period,respondents,mean_rating,staff_rating
    landesportal,2026,412,4.1,3.8
    ego-saar,2026-Q2,57,3,6,

service: a catalog id; period: YYYY, YYYY-Qn, YYYY-Hn or YYYY-MM; respondents: whole number
> 0; mean_rating and staff_rating (optional): 1 to 5, decimal point or comma.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from monitor.store import SatisfactionFigure

COLUMNS = ("service", "period", "respondents", "mean_rating", "staff_rating")
_PERIOD = re.compile(r"^\d{4}(-Q[1-4]|-H[12]|-(0[1-9]|1[0-2]))?$")


class SatisfactionError(ValueError):
    """Problems in a satisfaction CSV, each naming file, line and column."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


def _number(text: str) -> float:
    return float(text.strip().replace(",", "."))


def parse(path: Path, known_services: set[str]) -> list[SatisfactionFigure]:
    """Read and check a satisfaction CSV; raises SatisfactionError listing every problem."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise SatisfactionError([f"{path}: Datei nicht lesbar ({exc}); erwartet wird UTF-8-CSV"]) from None
    first = text.splitlines()[0] if text.strip() else ""
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.DictReader(text.splitlines(), delimiter=delimiter)
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in COLUMNS[:4] if c not in header]
    if missing:
        raise SatisfactionError([(f"{path}:1: Spalte(n) {', '.join(missing)} fehlen; Kopfzeile muss lauten: "
                                 f"{delimiter.join(COLUMNS)}")])
    problems: list[str] = []
    out: list[SatisfactionFigure] = []
    for lineno, raw in enumerate(reader, start=2):
        row = {(k or "").strip(): (v or "").strip() for k, v in raw.items()}
        where = f"{path}:{lineno}"
        sid, period = row.get("service", ""), row.get("period", "")
        if sid not in known_services:
            problems.append(f"{where}: Spalte 'service': unbekannter Dienst {sid!r}; erlaubt sind die IDs aus dem Katalog")
            continue
        if not _PERIOD.match(period):
            problems.append(f"{where}: Spalte 'period': {period!r} ist kein Zeitraum; z. B. 2026, 2026-Q1, 2026-H2, 2026-03")
            continue
        try:
            respondents = int(row.get("respondents", ""))
            if respondents <= 0:
                raise ValueError
        except ValueError:
            problems.append(f"{where}: Spalte 'respondents': {row.get('respondents')!r} ist keine ganze Zahl größer 0")
            continue
        ratings: dict[str, float | None] = {}
        for col in ("mean_rating", "staff_rating"):
            value = row.get(col, "")
            if not value and col == "staff_rating":
                ratings[col] = None
                continue
            try:
                rating = _number(value)
                if not 1.0 <= rating <= 5.0:
                    raise ValueError
                ratings[col] = rating
            except ValueError:
                problems.append(f"{where}: Spalte '{col}': {value!r} liegt nicht zwischen 1 und 5")
                break
        else:
            mean = ratings["mean_rating"]
            assert mean is not None  # only staff_rating may be empty
            out.append(SatisfactionFigure(sid, period, respondents, mean, ratings["staff_rating"],
                                          path.name[:300]))
    if problems:
        raise SatisfactionError(problems)
    if not out:
        raise SatisfactionError([f"{path}: keine Datenzeilen"])
    return out
