"""Setting types shared by every check kind."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: object) -> float:
    """'90s', '5m', '1h30m', '250ms' or a number of seconds -> seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 5m or 1h")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip().replace(" ", "")
        if re.fullmatch(r"-?\d+(\.\d+)?", text):  # negative only as a sentinel (jitter -1 = automatic)
            return float(text)
        parts = _DURATION_PART.findall(text)
        if parts and "".join(n + u for n, u in parts) == text:
            return sum(float(n) * _UNITS[u] for n, u in parts)
    raise ValueError(f"{value!r} is not a duration; write e.g. 30s, 5m, 1h30m or a number of seconds")


def format_duration(seconds: float) -> str:
    if seconds < 0:
        return f"{seconds:g}"  # a sentinel such as jitter -1, read back as a number
    if seconds >= 1 and float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{seconds * 1000:g}ms"


Duration = Annotated[float, BeforeValidator(parse_duration), PlainSerializer(format_duration, return_type=str)]
PositiveDuration = Annotated[Duration, Field(gt=0)]


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
