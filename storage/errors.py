"""farmtel's domain errors: what went wrong, typed, so no caller matches on message text.

Every package raises these (or subclasses of them) for a caller's mistake; the API maps each
kind to one HTTP status for the JSON routes and the pages alike (``NotFound`` 404, ``Conflict``
409, ``InvalidInput`` 422, ``OutOfScope`` 403). The message is for people and may be shown.
Store failures are not domain errors: ``StoreError`` (503) and its kinds ``StoreUnavailable``
and ``StoreRejected``, defined with the store contract (``storage.telemetry``) and re-exported
here; every transport failure of a store (refused connection, timeout, 5xx) is one of them.
"""

from __future__ import annotations

from storage.telemetry import StoreError, StoreRejected, StoreUnavailable

__all__ = ["Conflict", "DomainError", "InvalidInput", "NotFound", "OutOfScope", "StoreError",
           "StoreRejected", "StoreUnavailable"]


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
