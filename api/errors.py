"""The one mapping from farmtel's errors to HTTP statuses, for the JSON API and the pages.

Routes never catch these: a use case raises, and the handler each app factory registers with
``install_error_handlers`` answers with the status below (JSON for the API, a localised page
for the pages). The first class in an error's MRO found here decides.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final

from fastapi import FastAPI, Request, status
from fastapi.responses import Response

from storage.errors import Conflict, InvalidInput, NotFound, OutOfScope
from storage.telemetry import StoreError

STATUS_OF: Final[dict[type[Exception], int]] = {
    StoreError: status.HTTP_503_SERVICE_UNAVAILABLE,  # StoreUnavailable and friends
    NotFound: status.HTTP_404_NOT_FOUND,
    Conflict: status.HTTP_409_CONFLICT,
    InvalidInput: status.HTTP_422_UNPROCESSABLE_CONTENT,
    OutOfScope: status.HTTP_403_FORBIDDEN,
}
RETRY_AFTER_S: Final = 30
"""What a 503 tells the client to wait before trying again [s]."""

ErrorResponder = Callable[[Request, int, str], Awaitable[Response]]
"""Renders an error (request, status, message) for one surface."""


def status_of(exc: BaseException) -> int:
    """The HTTP status of a mapped error (500 for anything else)."""
    for cls in type(exc).__mro__:
        code = STATUS_OF.get(cls)
        if code is not None:
            return code
    return status.HTTP_500_INTERNAL_SERVER_ERROR


def install_error_handlers(app: FastAPI, respond: ErrorResponder) -> None:
    """Answer every mapped error raised in ``app`` with ``respond``."""

    async def handle(request: Request, exc: Exception) -> Response:
        code = status_of(exc)
        response = await respond(request, code, str(exc))
        if code == status.HTTP_503_SERVICE_UNAVAILABLE:
            response.headers["Retry-After"] = str(RETRY_AFTER_S)
        return response

    for cls in STATUS_OF:
        app.add_exception_handler(cls, handle)
