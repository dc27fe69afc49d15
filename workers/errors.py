"""User-facing errors: one line that names what, where, and the fix.

Both planes raise these (pure Python, no torch), and the CLI turns any of them into a
single line on stderr and exit code 2. Anything else is a bug and keeps its traceback.
Every error class of the project lives here.
"""

from __future__ import annotations

from collections.abc import Iterable
from difflib import get_close_matches


class UserError(Exception):
    """A mistake the user can fix: bad input, a missing file, an unreachable service."""

    exit_code = 2


class ModelError(UserError):
    """A model name, pretrained tag or checkpoint that cannot be used."""


class DataError(UserError):
    """A dataset folder, split file or image that is missing or unreadable."""


class ConfigError(UserError):
    """A value out of range or of the wrong type."""


class SetupError(UserError):
    """Something set-up should have provisioned (WordNet, the toy world) is missing."""


class TrainingDiverged(UserError):
    """A configuration whose training loss left the finite numbers (too large a step, say)."""


class OutOfMemory(UserError):
    """A trial that asked for more memory than its process (or GPU) could get."""


class TrackingError(UserError):
    """An MLflow tracking URI that cannot be used."""


class ClusterError(UserError):
    """A Ray cluster that cannot be used as given."""


class JobFailed(UserError):
    """The submitted job ended without success; exits with the driver's own code."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def did_you_mean(key: str, known: Iterable[str], prefix: str = "") -> str:
    """`` (did you mean 'PREFIX<closest>'?)`` when one known name is close to ``key``, else ''."""
    close = get_close_matches(key, list(known), n=1)
    return f" (did you mean '{prefix}{close[0]}'?)" if close else ""
