"""Journeys: named steps through a service in one browser session (neutral ground).

The journey kind runs them and judges them; the accessibility and DSGVO kinds run one as
the login before their pages (`after_journey`). Models in `model`, the runner in `engine`.
"""

from checks.steps.engine import JourneyRun, Scrubber, StepFailed, StepOutcome, after_login, log_in
from checks.steps.model import (
    ACTIONS,
    ACTIONS_DE,
    DataError,
    Expect,
    Journey,
    Prefix,
    SecretRef,
    Step,
    read_data_file,
    read_secret,
)

__all__ = ["ACTIONS", "ACTIONS_DE", "DataError", "Expect", "Journey", "JourneyRun", "Prefix", "Scrubber", "SecretRef",
           "Step", "StepFailed", "StepOutcome", "after_login", "log_in", "read_data_file", "read_secret"]
