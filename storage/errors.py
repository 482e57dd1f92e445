"""farmtel's domain errors: what went wrong, typed, so no caller matches on message text.

Every package raises these (or subclasses of them) for a caller's mistake; the API maps each
kind to one HTTP status for the JSON routes and the pages alike (``NotFound`` 404, ``Conflict``
409, ``InvalidInput`` 422, ``OutOfScope`` 403). The message is for people and may be shown.
Store outages are ``storage.telemetry.StoreUnavailable`` (503), not domain errors.
"""

from __future__ import annotations

__all__ = ["Conflict", "DomainError", "InvalidInput", "NotFound", "OutOfScope"]


class DomainError(Exception):
    """Base of farmtel's domain errors; ``str(error)`` is a message for people."""


class NotFound(DomainError, LookupError):
    """The thing asked for does not exist (or is not visible to the caller)."""


class Conflict(DomainError):
    """The request contradicts what exists (a duplicate id, an immutable row, a closed alert)."""


class InvalidInput(DomainError, ValueError):
    """The input is malformed or out of range."""


class OutOfScope(DomainError):
    """The caller's role or scope does not cover this."""
