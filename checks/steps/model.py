"""A journey as the catalog writes it: named steps, the test data they use, its stop point.

A step is a mapping with a `name` and exactly one action:

    - {name: start, open: https://dienst.example/antrag}
    - {name: weiter, click: Weiter}                       # accessible name; role: and css: narrow it
    - {name: vorname, fill: Vorname, value: vorname}      # the field's label; value: a data key
    - {name: land, choose: Bundesland, option: Saarland}  # a <select> by its label
    - {name: zustimmung, tick: Ich stimme zu}             # a checkbox or radio button by its label
    - {name: nachweis, upload: Nachweis, file: testdaten/nachweis.pdf}
    - {name: seite2, expect: {text: Persönliche Angaben, no_error: true}}
    - {name: geladen, wait_for: {element: Weiter}}
    - {name: ende, stop: Zusammenfassung erreicht, nichts absenden}

Values typed into fields never stand in the catalog: `value` names a key of the journey
settings' `data_file` (test data) or `secrets` (credentials from the environment or a
file). Both are read only in the process that runs the journey and never stored.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from checks.settings import CheckSettings, Duration, PositiveDuration, SettingsFileError

ACTIONS = ("open", "click", "fill", "choose", "tick", "upload", "expect", "wait_for", "stop")
ACTIONS_DE = {"open": "öffnen", "click": "klicken", "fill": "ausfüllen", "choose": "auswählen", "tick": "ankreuzen",
              "upload": "hochladen", "expect": "erwarten", "wait_for": "warten auf", "stop": "Haltepunkt"}
# Roles a click may be narrowed to (WAI-ARIA names, implicit roles of HTML elements included).
ROLES = ("button", "link", "checkbox", "radio", "tab", "menuitem", "option", "switch")
NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Expect(_Model):
    """What must hold after the steps before: every condition given, checked until the step's timeout."""

    text: str | None = Field(None, min_length=1, max_length=500, description="Visible text on the page (contains).")
    url: str | None = Field(None, min_length=1, max_length=500, description="Regular expression the page URL matches.")
    element: str | None = Field(None, min_length=1, max_length=300, description="An element with this accessible name.")
    role: Literal[ROLES] | None = Field(None, description="Narrows `element` to a role.")  # type: ignore[valid-type]
    css: str | None = Field(None, min_length=1, max_length=500, description="An element matching this CSS selector.")
    no_error: bool = Field(False, description="No error message: no role=alert text, no aria-invalid field, no HTTP error.")

    @field_validator("url")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"kein gültiger regulärer Ausdruck: {exc}") from None
        return value

    @model_validator(mode="after")
    def _something(self) -> Expect:
        if not (self.text or self.url or self.element or self.css or self.no_error):
            raise ValueError("mindestens eine Bedingung angeben: text, url, element, css oder no_error")
        return self

    def describe(self) -> str:
        parts = []
        if self.text:
            parts.append(f"Text „{self.text}“")
        if self.url:
            parts.append(f"Adresse passt auf {self.url}")
        if self.element:
            parts.append(f"Element „{self.element}“" + (f" ({self.role})" if self.role else ""))
        if self.css:
            parts.append(f"Element {self.css}")
        if self.no_error:
            parts.append("keine Fehlermeldung")
        return ", ".join(parts)


class Step(_Model):
    """One step: a name and exactly one action."""

    name: str = Field(pattern=NAME, description="Unique within the journey; used as a metric label.")
    open: str | None = Field(None, min_length=1, description="URL, or a path relative to the service's start page.")
    click: str | None = Field(None, min_length=1, max_length=300, description="Accessible name of what to click.")
    fill: str | None = Field(None, min_length=1, max_length=300, description="Label of the field to fill.")
    choose: str | None = Field(None, min_length=1, max_length=300, description="Label of the selection list.")
    tick: str | None = Field(None, min_length=1, max_length=300, description="Label of the checkbox or radio button.")
    upload: str | None = Field(None, min_length=1, max_length=300, description="Label of the file field.")
    expect: Expect | None = None
    wait_for: Expect | None = None
    stop: str | bool | None = Field(None, description="The explicit stop point: nothing after it is done.")
    role: Literal[ROLES] | None = Field(None, description="click: narrow to a role.")  # type: ignore[valid-type]
    css: str | None = Field(None, min_length=1, max_length=500,
                            description="CSS selector, used only when the name or label is not found.")
    value: str | None = Field(None, pattern=NAME, description="fill: key in data_file or secrets.")
    option: str | None = Field(None, min_length=1, max_length=300, description="choose: visible text of the option.")
    file: Path | None = Field(None, description="upload: a test file, relative to config/.")
    timeout: Duration | None = Field(None, gt=0, description="This step's time limit; default: step_timeout.")
    base_service: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$", description=(
        "Id of the catalog's base service this step exercises (login: servicekonto): its failure is attributed "
        "to that base service."))

    @model_validator(mode="after")
    def _one_action(self) -> Step:
        given = [a for a in ACTIONS if getattr(self, a) not in (None, False)]
        if len(given) != 1:
            raise ValueError(f"genau eine Aktion angeben ({', '.join(ACTIONS)}); gefunden: {', '.join(given) or 'keine'}")
        action = given[0]
        if action == "fill" and self.value is None:
            raise ValueError("fill braucht value: den Namen eines Testdatums aus data_file oder secrets "
                             "(Werte stehen nie im Katalog)")
        if action == "choose" and self.option is None:
            raise ValueError("choose braucht option: den sichtbaren Text der Auswahl")
        if action == "upload" and self.file is None:
            raise ValueError("upload braucht file: eine Testdatei relativ zu config/")
        if self.value is not None and action != "fill":
            raise ValueError("value gibt es nur bei fill")
        if self.css is not None and action not in ("click", "fill", "choose", "tick", "upload"):
            raise ValueError("css gibt es nur bei click, fill, choose, tick und upload")
        return self

    @property
    def action(self) -> str:
        return next(a for a in ACTIONS if getattr(self, a) not in (None, False))

    @property
    def interacts(self) -> bool:
        """Whether the step acts on the page (and could send something)."""
        return self.action in ("click", "fill", "choose", "tick", "upload")

    def describe(self) -> str:
        """German, for the CLI and the report: what the step does."""
        a = self.action
        if a == "expect" and self.expect is not None:
            return "erwarten: " + self.expect.describe()
        if a == "wait_for" and self.wait_for is not None:
            return "warten auf: " + self.wait_for.describe()
        if a == "stop":
            return "Haltepunkt" + (f": {self.stop}" if isinstance(self.stop, str) else "")
        if a == "fill":
            return f"ausfüllen: „{self.fill}“ mit Testdatum {self.value}"
        if a == "choose":
            return f"auswählen: „{self.choose}“ = „{self.option}“"
        target = getattr(self, a)
        return f"{ACTIONS_DE[a]}: „{target}“" + (f" ({self.role})" if self.role else "")


class Journey(_Model):
    """One Antragsstrecke: steps from an `open` to an explicit `stop`."""

    name: str = Field(pattern=NAME, description="Unique within the service; used as a metric label.")
    title: str = Field("", max_length=200, description="German title for the report, e.g. Wohngeld beantragen.")
    steps: list[Step] = Field(min_length=2)
    never_request: list[str] = Field(
        default_factory=list, description="URL patterns (* as wildcard) the browser blocks for the whole journey.")
    test_system: bool = Field(
        False, description="The target is a test system: form submissions on the last step are not blocked.")

    @model_validator(mode="after")
    def _shape(self) -> Journey:
        names = [s.name for s in self.steps]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"Schrittname mehrfach vergeben: {', '.join(twice)}; Schrittnamen müssen eindeutig sein")
        if self.steps[0].action != "open":
            raise ValueError("der erste Schritt muss eine Seite öffnen (open)")
        stops = [i for i, s in enumerate(self.steps) if s.action == "stop"]
        if not stops:
            raise ValueError("kein Haltepunkt: der letzte Schritt muss stop sein, damit nie ein echter Antrag "
                             "abgeschickt wird (z. B. {name: ende, stop: Zusammenfassung erreicht})")
        if stops != [len(self.steps) - 1]:
            raise ValueError("stop muss genau einmal vorkommen, als letzter Schritt")
        return self

    @property
    def title_de(self) -> str:
        return self.title or self.name

    def start_url(self, base: str) -> str:
        from urllib.parse import urljoin

        first = self.steps[0].open or ""
        return urljoin(base, first)


class SecretRef(_Model):
    """Where a credential comes from: an environment variable or a file (first line)."""

    env: str | None = Field(None, pattern=_ENV.pattern, description="Environment variable of the running process.")
    file: Path | None = Field(None, description="File with the value, e.g. /run/secrets/...; relative to config/.")

    @model_validator(mode="after")
    def _one(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("genau eines angeben: env (Umgebungsvariable) oder file (Datei)")
        return self


class DataError(SettingsFileError):
    """Test data or a secret is not available; `loc` names the setting."""


def read_data_file(path: Path) -> dict[str, str]:
    """A YAML mapping of test data (name: value); raises DataError naming the fix."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(("data_file",), f"Testdatendatei {path} nicht gefunden; Pfad relativ zu config/ angeben") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise DataError(("data_file",), f"Testdatendatei {path} nicht lesbar: {exc}") from None
    if not isinstance(raw, dict) or not all(isinstance(k, str) and isinstance(v, str | int | float)
                                            for k, v in raw.items()):
        raise DataError(("data_file",), f"Testdatendatei {path}: erwartet Einträge name: wert (Text)")
    return {k: str(v) for k, v in raw.items()}


def read_secret(name: str, ref: SecretRef) -> str:
    """The secret's value, from the environment or its file (without the trailing newline)."""
    if ref.env is not None:
        value = os.environ.get(ref.env)
        if value is None:
            raise DataError(("secrets", name, "env"),
                            f"Umgebungsvariable {ref.env} für Geheimnis {name} ist nicht gesetzt; im Dienst "
                            "(systemd EnvironmentFile, Container-Secret) setzen")
        return value
    assert ref.file is not None
    try:
        text = ref.file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(("secrets", name, "file"),
                        f"Geheimnisdatei {ref.file} für {name} nicht gefunden; Datei anlegen oder Pfad korrigieren") from None
    except OSError as exc:
        raise DataError(("secrets", name, "file"), f"Geheimnisdatei {ref.file} nicht lesbar: {exc}") from None
    return text.splitlines()[0] if text else ""


def load_values(data_file: Path | None, secrets: dict[str, SecretRef]) -> dict[str, str]:
    """Test data and secrets by name, read now (in the process that runs the journey)."""
    values = read_data_file(data_file) if data_file is not None else {}
    for name, ref in secrets.items():
        values[name] = read_secret(name, ref)
    return values


def bind_files(base: Path, data_file: Path | None, secrets: dict[str, SecretRef],
               journeys: list[Journey]) -> tuple[Path | None, dict[str, SecretRef], list[Journey]]:
    """Paths relative to config/ made absolute, and everything a journey needs checked now:
    the data file and each secret file can be read, every `fill` names a value that exists,
    every upload file is there. Raises DataError with the setting's location. (A secret from
    an environment variable is read only where the journey runs: `validate`, `report` and
    `results` work in a shell without it.)"""
    def absolute(p: Path) -> Path:
        return p if p.is_absolute() else base / p

    data_file = absolute(data_file) if data_file is not None else None
    secrets = {k: (ref.model_copy(update={"file": absolute(ref.file)}) if ref.file is not None else ref)
               for k, ref in secrets.items()}
    known = set(read_data_file(data_file)) if data_file is not None else set()
    for name, ref in secrets.items():
        if ref.file is not None:  # a file must be there now; a variable only in the process that runs the journey
            read_secret(name, ref)
    known |= set(secrets)
    bound = []
    for j, journey in enumerate(journeys):
        steps = []
        for s, step in enumerate(journey.steps):
            if step.value is not None and step.value not in known:
                raise DataError(("journeys", j, "steps", s, "value"),
                                f"Testdatum {step.value!r} weder in data_file noch in secrets; dort anlegen "
                                f"(bekannt: {', '.join(sorted(known)) or 'keine'})")
            if step.file is not None:
                path = absolute(step.file)
                if not path.is_file():
                    raise DataError(("journeys", j, "steps", s, "file"), f"Testdatei {path} nicht gefunden")
                step = step.model_copy(update={"file": path})
            steps.append(step)
        bound.append(journey.model_copy(update={"steps": steps}))
    return data_file, secrets, bound


class Prefix(_Model):
    """A journey run before another check's pages (a login), with what its steps need.

    Filled in by the configuration from the service's journey check (`after_journey`)."""

    journey: Journey
    data_file: Path | None = None
    secrets: dict[str, SecretRef] = Field(default_factory=dict)
    step_timeout: PositiveDuration = 20.0
    base_url: str = ""


def login_from(settings: Any, others: Sequence[CheckSettings], start_url: str) -> tuple[Any, tuple[str, str] | None]:
    """`CheckSettings.resolve_across` of a kind with `after_journey` (DSGVO, accessibility): its
    `login` from the journey of that name among the service's other checks."""
    wanted = settings.after_journey
    if not wanted:
        return settings, None
    for other in others:
        prefix = other.journey_prefix(wanted, start_url)
        if prefix is not None:
            return settings.model_copy(update={"login": prefix}), None
    known = ", ".join(n for o in others for n in o.journey_names()) or "keine"
    error = (f"keine Strecke {wanted!r} in der journey-Prüfung dieses Dienstes (bekannt: {known}); "
             "dort anlegen oder den Namen korrigieren")
    return None, ("after_journey", error)


def where_in_journeys(raw: Any, loc: tuple[Any, ...]) -> str:
    """'Strecke 'x', Schritt 'y': ' for an error inside a journey (the path has only indexes)."""
    if len(loc) < 2 or loc[0] != "journeys" or not isinstance(loc[1], int) or not isinstance(raw, dict):
        return ""
    try:
        journey = raw["journeys"][loc[1]]
        out = f"Strecke '{journey.get('name', loc[1] + 1)}'"
        if len(loc) >= 4 and loc[2] == "steps" and isinstance(loc[3], int):
            step = journey["steps"][loc[3]]
            out += f", Schritt '{step.get('name', loc[3] + 1) if isinstance(step, dict) else loc[3] + 1}'"
        return out + ": "
    except (KeyError, IndexError, TypeError, AttributeError):
        return ""
