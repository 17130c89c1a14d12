"""Domain errors of the gfn library: each names the offending field (or item) and the reason.

The service maps every :class:`GfnError` to HTTP 422 and the CLI to exit status 2, so messages are
written for users: ``"<field>: <reason>"``.
"""

from __future__ import annotations


class GfnError(ValueError):
    """Base class: bad user input to the library, with the field it concerns."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class LibraryError(GfnError):
    """A block library (fragment list) is invalid."""


class SpecError(GfnError):
    """A reward spec is invalid."""


class ConfigError(GfnError):
    """A training configuration is invalid."""


class RunError(GfnError):
    """A run directory is missing, incomplete or incompatible."""
