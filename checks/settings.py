"""Setting types shared by every check kind."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, WithJsonSchema

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: object) -> float:
    """'90s', '5m', '1h30m', '250ms' or a number of seconds -> seconds."""
    if isinstance(value, bool):
        raise ValueError("erwartet eine Dauer wie 30s, 5m oder 1h")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip().replace(" ", "")
        if re.fullmatch(r"-?\d+(\.\d+)?", text):  # negative only as a sentinel (jitter -1 = automatic)
            return float(text)
        parts = _DURATION_PART.findall(text)
        if parts and "".join(n + u for n, u in parts) == text:
            return sum(float(n) * _UNITS[u] for n, u in parts)
    raise ValueError(f"{value!r} ist keine Dauer; z. B. 30s, 5m, 1h30m oder eine Zahl von Sekunden angeben")


def format_duration(seconds: float) -> str:
    if seconds < 0:
        return f"{seconds:g}"  # a sentinel such as jitter -1, read back as a number
    if seconds >= 1 and float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{seconds * 1000:g}ms"


Duration = Annotated[float, BeforeValidator(parse_duration), PlainSerializer(format_duration, return_type=str)]

_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([KMG]i?B|B)?", re.IGNORECASE)
_SIZE_UNITS = {"b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "kib": 1024, "mib": 1024**2, "gib": 1024**3}


def parse_size(value: object) -> int:
    """A byte count: 1048576, '10MB' (10 * 1000**2), '10MiB' (10 * 1024**2), '512KiB', '2GB'."""
    if isinstance(value, bool):
        raise ValueError("erwartet eine Größe wie 10MB, 10MiB oder eine Zahl von Bytes")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        m = _SIZE.fullmatch(value.strip())
        if m:
            return int(float(m.group(1)) * _SIZE_UNITS[(m.group(2) or "b").lower()])
    raise ValueError(f"{value!r} ist keine Größe; z. B. 10MB, 10MiB, 512KiB oder eine Zahl von Bytes angeben")


# A byte count that also accepts units, as blackbox_exporter's modules do (10MB, 10MiB).
ByteSize = Annotated[int, BeforeValidator(parse_size), WithJsonSchema(
    {"anyOf": [{"type": "integer", "minimum": 1},
               {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*([KkMmGg]i?[Bb]|[Bb])?\s*$"}]})]
PositiveDuration = Annotated[Duration, Field(gt=0)]


def named_twice(names: Sequence[str]) -> list[str]:
    """The names that occur more than once (sorted): for a German "mehrfach" error."""
    return sorted({n for n in names if names.count(n) > 1})


class SettingsFileError(ValueError):
    """A file a check's settings name (a list, test data, a secret) is missing or broken; `loc`
    is the setting's path within the check, for the configuration's file:line report."""

    def __init__(self, loc: tuple[Any, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc


class CheckSettings(BaseModel):
    """What every check kind has: how often it runs, and how long one run may take."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    interval: PositiveDuration = Field(60.0, description="Time between two runs, e.g. 60s or 5m.")
    jitter: Duration = Field(
        -1.0, description="Random delay added to each run to spread load; default: 10% of the interval, at most 30s."
    )
    timeout: PositiveDuration = Field(10.0, description="Upper bound for one attempt, all phases together.")

    @property
    def effective_jitter(self) -> float:
        return min(self.interval * 0.1, 30.0) if self.jitter < 0 else self.jitter

    def worst_case_seconds(self) -> float:
        """How long one scheduled run can take at most (used to size misfire grace)."""
        return self.timeout

    # ------------------------------------------------ hooks the configuration calls on every kind

    def bind_paths(self, base: Path) -> Self:
        """The files the settings name made absolute (relative to config/) and checked now;
        raises SettingsFileError naming the field."""
        return self

    def resolve_across(self, others: Sequence[CheckSettings], start_url: str) -> tuple[Self | None, tuple[str, str] | None]:
        """These settings completed from the service's other checks (a DSGVO check's login
        from the journey check it names): (settings, None), or (None, (field, German error))."""
        return self, None

    def journey_prefix(self, name: str, base_url: str) -> Any | None:
        """The journey `name` of these settings as another check's login (a `checks.steps.Prefix`)."""
        return None

    def journey_names(self) -> list[str]:
        return []

    def service_refs(self) -> list[tuple[tuple[Any, ...], str]]:
        """Catalog service ids these settings name (a journey step's `base_service`), each with
        its location in the settings: the configuration checks that each exists."""
        return []

    def location_refs(self) -> list[tuple[tuple[Any, ...], str]]:
        """Names of settings.yaml `locations:` these settings probe from, each with its place in
        the settings: the configuration checks that each exists."""
        return []

    def one_location(self) -> CheckSettings:
        """The settings of one location's probe (its vote), run where that location is: the
        same check without `locations` (distributed mode, `CheckImplementation.combine`)."""
        return self

    @classmethod
    def where(cls, raw: Any, loc: tuple[Any, ...]) -> str:
        """A German prefix that names where in `raw` (the catalog's settings) an error at `loc`
        is, where the path's indexes alone would not tell an operator (a journey's step)."""
        return ""
