"""User-facing errors: one line that names what, where, and the fix.

Both planes raise these (pure Python, no torch), and the CLI turns any of them into a
single line on stderr and exit code 2. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


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
