"""The accessibility kind's vocabulary (impacts, BITV markers, bounds) and settings."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.json_schema import SkipJsonSchema

from checks.settings import ByteSize, CheckSettings, PositiveDuration
from checks.steps.model import Prefix, login_from

IMPACTS = ("critical", "serious", "moderate", "minor")
# Weights for the trend score, as Lighthouse weighs audits: a critical barrier counts ten
# times a minor one. Score = 100 - mean over scanned pages of the sum of the weights of
# the distinct rules violated on that page, floored at 0.
IMPACT_WEIGHTS = {"critical": 10, "serious": 7, "moderate": 3, "minor": 1}
WCAG21_AA = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")
MARKERS = ("statement_linked", "statement_feedback", "statement_arbitration", "statement_current",
           "statement_consistent", "statement_complete", "easy_language", "sign_language", "html_lang")
MARKER_NAMES_DE = {
    "statement_linked": "Erklärung zur Barrierefreiheit von jeder Seite verlinkt",
    "statement_feedback": "Erklärung nennt einen Feedback-Mechanismus",
    "statement_arbitration": "Erklärung nennt das Schlichtungsverfahren",
    "statement_current": "Erklärung ist höchstens 12 Monate alt",
    "statement_consistent": "Erklärung widerspricht der Prüfung nicht (nicht „vollständig vereinbar“ trotz schwerer "
                            "Barrieren)",
    "statement_complete": "Erklärung enthält alle Pflichtangaben (Status, nicht barrierefreie Inhalte, Datum, Methode, "
                          "elektronischer Kontakt, Schlichtungsverfahren)",
    "easy_language": "Leichte Sprache von der Startseite erreichbar",
    "sign_language": "Deutsche Gebärdensprache von der Startseite erreichbar",
    "html_lang": "Seitensprache angegeben (html lang, Startseite deutsch)",
}
# Evidence names every violating element: an operator fixes them, an auditor verifies them.
# Bounds: MAX_TARGETS_PER_RULE selectors per rule and page come back from the browser, and
# MAX_TARGET_CHARS characters of selectors are stored per result; what lies beyond is counted
# (`targets_cut` per violation, `evidence.targets` for the result), never dropped silently.
MAX_TARGETS_PER_RULE = 5000
MAX_TARGET_CHARS = 512 * 1024


# --------------------------------------------------------------------------- settings


class RuleExclusion(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    rule: str = Field(..., pattern=r"^[a-z0-9-]+$", description="axe rule id, e.g. color-contrast")
    reason: str = Field(..., min_length=3, description="Why this rule is not checked here (shown in the report).")


class SitemapSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    enabled: bool = Field(False, description="Add pages from the site's sitemap to the configured URLs.")
    url: str | None = Field(None, description="Sitemap URL; default: robots.txt Sitemap lines, else /sitemap.xml.")
    max_pages: int = Field(10, ge=1, le=1000, description="How many sitemap pages to add (a stable sample).")
    max_files: int = Field(20, ge=1, le=200, description="How many sitemap files (index entries) to read at most.")


class AccessibilitySettings(CheckSettings):
    """axe-core rules by tag, rule exclusions with reasons, sitemap sampling and the BITV markers."""

    interval: PositiveDuration = Field(86400.0, description="Time between two scans; default daily.")
    timeout: PositiveDuration = Field(30.0, description="Upper bound per page: load, axe in every frame, markers.")
    tags: list[str] = Field(list(WCAG21_AA), min_length=1,
                            description="axe tags to run (not cumulative): wcag2a, wcag2aa, wcag21a, wcag21aa, wcag22aa, "
                                        "EN-301-549, best-practice, ...")
    exclude_rules: list[RuleExclusion] = Field(default_factory=list, description="Rules not checked, each with a reason.")
    axe_options: dict[str, Any] = Field(default_factory=dict,
                                        description="Further axe.run options as JSON (e.g. {\"rules\": {...}}).")
    fail_impact: Literal["critical", "serious", "moderate", "minor"] = Field(
        "serious", description="Violations of this impact or worse make the result noncompliant (down).")
    sitemap: SitemapSettings = Field(default_factory=SitemapSettings)
    max_pages: int = Field(20, ge=1, le=1000, description="Pages per run at most, configured URLs first.")
    markers: list[Literal[MARKERS]] = Field(list(MARKERS), description="BITV markers to check.")  # type: ignore[valid-type]
    statement_max_age_days: int = Field(365, ge=1, description="How old the statement's date may be.")
    parallel_pages: int = Field(0, ge=0, le=64, description="Pages scanned at once; 0 = the browser pool's size.")
    max_body_bytes: ByteSize = Field(10 * 1024 * 1024, ge=1024, description="Size cap for sitemap files.")
    ca_file: Path | None = Field(None, description="Extra CA bundle for sitemap downloads.")

    after_journey: str | None = Field(
        None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$",
        description="A journey of this service's journey check run first (a login); the pages are then read in "
                    "that browser session, one after another.")
    login: SkipJsonSchema[Prefix | None] = Field(None, description="Set by egov-monitor from after_journey.")

    def resolve_across(self, others: Sequence[CheckSettings], start_url: str) -> tuple[Any, tuple[str, str] | None]:
        return login_from(self, others, start_url)

    @field_validator("tags")
    @classmethod
    def _tag_names(cls, tags: list[str]) -> list[str]:
        for tag in tags:
            if not re.fullmatch(r"[A-Za-z0-9._-]+", tag):
                raise ValueError(f"{tag!r} ist kein axe-Tag; z. B. wcag2aa, wcag21aa, EN-301-549, best-practice")
        return tags

    @field_validator("axe_options")
    @classmethod
    def _no_run_only(cls, options: dict[str, Any]) -> dict[str, Any]:
        if "runOnly" in options:
            raise ValueError("runOnly wird aus 'tags' gebildet; Regeln stattdessen über 'tags' oder 'exclude_rules' wählen")
        return options

    def worst_case_seconds(self) -> float:
        return self.timeout * (self.max_pages + 2)

    def run_options(self) -> dict[str, Any]:
        """The axe.run options object: tags, exclusions, and only violations in full."""
        options: dict[str, Any] = {"resultTypes": ["violations"], **self.axe_options}
        options["runOnly"] = {"type": "tag", "values": list(self.tags)}
        rules = dict(options.get("rules") or {})
        for ex in self.exclude_rules:
            rules[ex.rule] = {"enabled": False}
        if rules:
            options["rules"] = rules
        return options
