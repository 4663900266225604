"""The DSGVO kind's vocabulary (markers, categories, bounds), settings and tracker lists."""

from __future__ import annotations

import fnmatch
import functools
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.json_schema import SkipJsonSchema

from checks.ai_signatures import AiList
from checks.ai_signatures import shipped as shipped_ai_list
from checks.settings import CheckSettings, PositiveDuration, SettingsFileError
from checks.steps.model import Prefix, login_from

DEFAULT_TRACKERS = Path(__file__).resolve().parents[2] / "config" / "trackers.yaml"
CATEGORIES = ("analytics", "advertising", "social", "session_replay", "tag_manager", "video", "fonts", "consent", "other")
MARKERS = ("no_trackers", "no_third_party_cookies", "no_nonessential_cookies", "no_storage", "no_google_fonts",
           "youtube_nocookie", "processors_only", "impressum_link", "privacy_link", "current_legal_refs",
           "forms_https", "https_redirect", "no_ai_api")
MARKER_NAMES_DE = {
    "no_trackers": "Keine Tracker vor der Einwilligung",
    "no_third_party_cookies": "Keine Drittanbieter-Cookies vor der Einwilligung",
    "no_nonessential_cookies": "Nur technisch notwendige eigene Cookies",
    "no_storage": "Kein Local/Session Storage vor der Einwilligung (außer notwendigem)",
    "no_google_fonts": "Keine Google Fonts von Google-Servern",
    "youtube_nocookie": "YouTube nur über youtube-nocookie.com",
    "processors_only": "Nur Drittanbieter aus der Liste der Auftragsverarbeiter",
    "impressum_link": "Impressum von jeder Seite verlinkt",
    "privacy_link": "Datenschutzerklärung von jeder Seite verlinkt",
    "current_legal_refs": "Keine veralteten Rechtsgrundlagen (TMG, TTDSG)",
    "forms_https": "Formulare senden nur über HTTPS",
    "https_redirect": "HTTP leitet auf HTTPS um",
    "no_ai_api": "Keine KI-Dienste vor der Einwilligung kontaktiert",
}
SEVERITY = {"no_trackers": "high", "no_third_party_cookies": "high", "no_nonessential_cookies": "medium",
            "no_storage": "low", "no_google_fonts": "high", "youtube_nocookie": "high", "processors_only": "medium",
            "impressum_link": "high", "privacy_link": "high", "current_legal_refs": "low", "forms_https": "high",
            "https_redirect": "medium", "no_ai_api": "high"}
# Cookie and storage names that are strictly necessary (§25 (2) Nr. 2 TDDDG) on typical
# public-sector stacks: sessions, CSRF tokens, load-balancer stickiness, the consent state
# itself. Shell-style patterns, case-insensitive; operators add their own.
NECESSARY_NAMES = (
    "PHPSESSID", "JSESSIONID", "ASP.NET_SessionId", "ASPSESSIONID*", "SESSION", "SESS*", "session", "session_id",
    "sessionid", "sid", "*_session", "fe_typo_user", "be_typo_user", "XSRF-TOKEN", "csrftoken", "csrf_token",
    "_csrf", "__RequestVerificationToken*", "BIGipServer*", "TS01*", "AWSALB", "AWSALBCORS", "ROUTEID",
    "SERVERID", "__cf_bm", "cookieconsent_status", "CookieConsent", "cookie_consent*", "consent*", "borlabs-cookie",
    "klaro", "uc_settings", "uc_user_interaction", "OptanonConsent", "OptanonAlertBoxClosed", "cmplz_*",
    "cookiefirst-consent", "CookieScriptConsent", "_pk_testcookie*", "KEYCLOAK_*", "AUTH_SESSION_ID*", "lang",
    "language",
)
GOOGLE_FONTS_HOSTS = ("fonts.googleapis.com", "fonts.gstatic.com")
YOUTUBE_DOMAINS = ("youtube.com", "youtu.be", "ytimg.com", "googlevideo.com")
MAX_REQUESTS = 2000  # recorded per page; more are counted, not kept
MAX_LINKS = 3000
MAX_FRAMES = 20  # frames whose storage is read
MAX_TEXT = 300_000  # characters of page text searched for legal references
_HOST = re.compile(r"^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")


# --------------------------------------------------------------------------- settings


class TrackerEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    domain: str = Field(description="Host or domain; subdomains match too.")
    category: Literal[CATEGORIES] = Field(description=", ".join(CATEGORIES))  # type: ignore[valid-type]
    owner: str = Field("", max_length=200)

    @field_validator("domain")
    @classmethod
    def _hostname(cls, value: str) -> str:
        value = value.strip().lower().rstrip(".")
        if not _HOST.match(value):
            raise ValueError(f"{value!r} ist kein Hostname; nur den Host angeben, z. B. google-analytics.com (ohne Pfad)")
        return value


class TrackerFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = ""
    trackers: list[TrackerEntry] = Field(default_factory=list)


class ConsentCookie(BaseModel):
    """A cookie set before the second pass, as the site's consent banner would set it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=200, pattern=r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
    value: str = Field("", max_length=4000)
    domain: str | None = Field(None, description="Cookie domain; default: the page's host.")
    path: str = "/"


class GdprSettings(CheckSettings):
    """Pre-consent recording in a fresh browser, the legally required links, and HTTPS."""

    interval: PositiveDuration = Field(86400.0, description="Time between two scans; default daily.")
    timeout: PositiveDuration = Field(30.0, description="Upper bound per page: start a fresh browser, load, record.")
    settle: PositiveDuration = Field(
        1.5, description="After the load event, record until no new request came for this long ...")
    settle_max: PositiveDuration = Field(6.0, description="... but at most this long (pages that poll forever).")
    max_pages: int = Field(20, ge=1, le=500, description="Pages per run at most (the service's configured URLs).")
    markers: list[Literal[MARKERS]] = Field(list(MARKERS), description="Markers to judge.")  # type: ignore[valid-type]
    necessary_names: list[str] = Field(
        list(NECESSARY_NAMES), description="Strictly necessary cookie and storage names (shell patterns, case-insensitive).")
    extra_necessary_names: list[str] = Field(default_factory=list, description="Added to necessary_names.")
    first_party: list[str] = Field(
        default_factory=list, description="Further domains that count as first party (the operator's own).")
    processors: list[str] | None = Field(
        None, description="Allowed third-party domains (processors under Art. 28 DSGVO); unset = not judged.")
    trackers: list[TrackerEntry] = Field(default_factory=list, description="Tracker hosts added to the shipped list.")
    tracker_files: list[Path] = Field(
        default_factory=list, description="Further tracker lists (format of config/trackers.yaml), relative to config/.")
    shipped_trackers: bool = Field(True, description="Use config/trackers.yaml shipped with egov-monitor.")
    consent_cookies: list[ConsentCookie] = Field(
        default_factory=list, description="Set before a second pass that shows what changes after consent.")
    legal_pages: bool = Field(True, description="Read the linked Impressum and Datenschutzerklärung for TMG/TTDSG.")
    https_redirect_timeout: PositiveDuration = Field(10.0, description="Timeout of the HTTP-to-HTTPS probe.")
    parallel_pages: int = Field(0, ge=0, le=64, description="Pages recorded at once; 0 = the browser pool's size.")
    ca_file: Path | None = Field(None, description="Extra CA bundle for the HTTP-to-HTTPS probe.")

    after_journey: str | None = Field(
        None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$",
        description="A journey of this service's journey check run first (a login); the pages are then read in "
                    "that browser session, one after another.")
    login: SkipJsonSchema[Prefix | None] = Field(None, description="Set by egov-monitor from after_journey.")

    def resolve_across(self, others: Sequence[CheckSettings], start_url: str) -> tuple[Any, tuple[str, str] | None]:
        return login_from(self, others, start_url)

    @field_validator("first_party", "processors")
    @classmethod
    def _domains(cls, values: list[str] | None) -> list[str] | None:
        if values is None:
            return None
        out = []
        for value in values:
            value = value.strip().lower().rstrip(".")
            if not _HOST.match(value):
                raise ValueError(f"{value!r} ist kein Domainname; z. B. saarland.de oder *.cdn.example.org")
            out.append(value.removeprefix("*."))
        return out

    def worst_case_seconds(self) -> float:
        passes = 2 if self.consent_cookies else 1
        return self.timeout * (self.max_pages * passes + 4) + self.https_redirect_timeout

    def bind_paths(self, base: Path) -> GdprSettings:
        """Tracker files relative to config/, each loaded once now so a bad file is a config error."""
        files = [p if p.is_absolute() else (base / p) for p in self.tracker_files]
        for f in files:
            try:
                load_tracker_file(f)
            except TrackerFileError as exc:
                raise SettingsFileError(("tracker_files",), str(exc)) from None
        return self.model_copy(update={"tracker_files": files})

    @functools.cached_property
    def ai_list(self) -> AiList:
        """The shipped AI list (config/ai.yaml): AI APIs a page must not contact before consent."""
        return shipped_ai_list()

    @functools.cached_property
    def tracker_map(self) -> dict[str, TrackerEntry]:
        entries: dict[str, TrackerEntry] = {}
        files = ([DEFAULT_TRACKERS] if self.shipped_trackers else []) + list(self.tracker_files)
        for f in files:
            entries.update({e.domain: e for e in load_tracker_file(f)})
        entries.update({e.domain: e for e in self.trackers})
        return entries

    @functools.cached_property
    def necessary_patterns(self) -> re.Pattern[str]:
        names = [*self.necessary_names, *self.extra_necessary_names]
        names += [glob_escape(c.name) for c in self.consent_cookies]  # the consent state itself is necessary
        parts = [fnmatch.translate(p) for p in names]
        return re.compile("|".join(parts) if parts else r"(?!)", re.IGNORECASE)


def glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


class TrackerFileError(ValueError):
    """A tracker list that cannot be used: names the file, the line and the fix."""


@functools.lru_cache(maxsize=16)
def _load_tracker_file(path: str, mtime: float) -> tuple[TrackerEntry, ...]:
    text = Path(path).read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text) or {}
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise TrackerFileError(f"{path}:{mark.line + 1 if mark else '?'}: kein gültiges YAML") from None
    try:
        return tuple(TrackerFile.model_validate(data).trackers)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        loc = err["loc"]
        line = "?"
        if len(loc) >= 2 and loc[0] == "trackers" and isinstance(loc[1], int) and isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == "trackers" and isinstance(v, yaml.SequenceNode) and loc[1] < len(v.value):
                    line = v.value[loc[1]].start_mark.line + 1
        field = ".".join(str(p) for p in loc)
        raise TrackerFileError(f"{path}:{line}: Feld '{field}': {err['msg']}") from None


def load_tracker_file(path: Path) -> tuple[TrackerEntry, ...]:
    try:
        mtime = path.stat().st_mtime
    except OSError:
        raise TrackerFileError(f"{path}: Tracker-Liste nicht gefunden; Pfad in tracker_files korrigieren "
                               "(relativ zu config/)") from None
    return _load_tracker_file(str(path), mtime)
