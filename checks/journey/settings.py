"""The journey kind's settings: the service's journeys, where their test data comes from,
and what else is judged on the way (axe on every step, the DSGVO recording)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from checks.accessibility.settings import WCAG21_AA
from checks.settings import ByteSize, CheckSettings, PositiveDuration, named_twice
from checks.steps.model import Journey, Prefix, SecretRef, bind_files, where_in_journeys

# The DSGVO markers that mean something for a journey: what the browser did before any
# consent, across all steps (the link markers belong to the DSGVO kind's pages).
GDPR_MARKERS = ("no_trackers", "no_third_party_cookies", "no_nonessential_cookies", "no_storage", "no_google_fonts",
                "youtube_nocookie", "no_ai_api")
KEY_SEPARATOR = "#"  # a journey's series: the service's URL, '#', the journey's name


class JourneySettings(CheckSettings):
    """Antragsstrecken: named steps through a service, from an open to an explicit stop."""

    interval: PositiveDuration = Field(3600.0, description="Time between two runs of each journey; default hourly.")
    timeout: PositiveDuration = Field(180.0, description="Upper bound for a whole journey, scans on its pages included.")
    step_timeout: PositiveDuration = Field(20.0, description="Upper bound per step unless the step sets its own.")
    journeys: list[Journey] = Field(min_length=1, description="The service's journeys.")
    data_file: Path | None = Field(
        None, description="YAML file of test data (name: value), relative to config/. Values never stand in the catalog.")
    secrets: dict[str, SecretRef] = Field(
        default_factory=dict, description="Credentials by name: {env: VARIABLE} or {file: path}; read at run time.")
    accessibility: bool = Field(False, description="Run axe-core on every page a step opens or clicks to.")
    tags: list[str] = Field(list(WCAG21_AA), min_length=1, description="axe tags for `accessibility`.")
    fail_impact: Literal["critical", "serious", "moderate", "minor"] = Field(
        "serious", description="Barriers of this impact or worse on a step are findings (the journey is degraded).")
    gdpr: bool = Field(False, description="Record the whole journey before consent (trackers, cookies, storage).")
    experience: bool = Field(True, description=(
        "Measure each step's page in the lab (LCP, CLS, TBT, FCP, TTFB) and the interactions of each step "
        "(INP), with the experience kind's collector; unthrottled, in the journey's own browser."))
    first_party: list[str] = Field(default_factory=list, description="gdpr: further domains that count as first party.")
    necessary_names: list[str] = Field(default_factory=list, description=(
        "gdpr: further strictly necessary cookie and storage names (shell patterns), as the DSGVO kind's "
        "extra_necessary_names. First-party cookies the journey's own login response sets count as necessary "
        "without this (TDDDG § 25 (2) Nr. 2: the session the citizen asked for by logging in)."))
    screenshots: bool = Field(True, description="Keep a small screenshot of a failed step (secrets painted over).")
    max_screenshot_bytes: ByteSize = Field(150_000, ge=10_000, le=2_000_000,
                                           description="Upper bound of one screenshot; it is made smaller to fit.")

    @field_validator("journeys")
    @classmethod
    def _unique(cls, journeys: list[Journey]) -> list[Journey]:
        twice = named_twice([j.name for j in journeys])
        if twice:
            raise ValueError(f"Streckenname mehrfach vergeben: {', '.join(twice)}; Namen müssen eindeutig sein")
        return journeys

    def worst_case_seconds(self) -> float:
        return self.timeout

    def bind_paths(self, base: Path) -> JourneySettings:
        """Data file, secret files and upload files relative to config/, each checked now."""
        data_file, secrets, journeys = bind_files(base, self.data_file, self.secrets, self.journeys)
        return self.model_copy(update={"data_file": data_file, "secrets": secrets, "journeys": journeys})

    def journey(self, name: str) -> Journey | None:
        return next((j for j in self.journeys if j.name == name), None)

    def keys(self, service_urls: Sequence[str]) -> list[str]:
        """One series per journey: the service's URL and the journey's name (the journey's own
        start page, its first `open` relative to that URL, is in each result's steps)."""
        base = service_urls[0] if service_urls else ""
        return [base + KEY_SEPARATOR + j.name for j in self.journeys]

    def journey_names(self) -> list[str]:
        return [j.name for j in self.journeys]

    def service_refs(self) -> list[tuple[tuple[Any, ...], str]]:
        return [(("journeys", i, "steps", k, "base_service"), step.base_service)
                for i, j in enumerate(self.journeys) for k, step in enumerate(j.steps) if step.base_service is not None]

    @classmethod
    def where(cls, raw: Any, loc: tuple[Any, ...]) -> str:
        return where_in_journeys(raw, loc)

    def journey_prefix(self, name: str, base_url: str) -> Prefix | None:
        """The journey `name` as the login before another check's pages (`after_journey`)."""
        journey = self.journey(name)
        if journey is None:
            return None
        return Prefix(journey=journey, data_file=self.data_file, secrets=self.secrets, step_timeout=self.step_timeout,
                      base_url=base_url)
