"""Dependencies shared by the JSON routes and the pages: services, DB sessions, the caller
and the role checks.

Both surfaces use the same role aliases. The only difference between them is where the token
comes from: each app keeps a ``TokenReader`` on its state (the API reads the bearer header,
the pages their session cookie), and what a missing token looks like (``NotSignedIn``: 401
JSON for the API, a redirect to the sign-in page for the pages).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from api.auth import NotSignedIn, Principal, Role, principal_for_token
from api.services import ApiServices
from storage.errors import OutOfScope

TokenReader = Callable[[Request], str | None]
"""Where an app finds the caller's token in a request."""


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer …`` header (the JSON API's reader)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def get_services(request: Request) -> ApiServices:
    """The services attached to the app."""
    services: ApiServices = request.app.state.services
    return services


Services = Annotated[ApiServices, Depends(get_services)]


def get_session(services: Services) -> Iterator[Session]:
    """One metadata DB session per request."""
    with services.sessions() as session:
        yield session


DbSession = Annotated[Session, Depends(get_session)]

_bearer = HTTPBearer(auto_error=False)  # declares the scheme in the OpenAPI document


def get_principal(
    request: Request,
    session: DbSession,
    _declared: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The authenticated caller; ``NotSignedIn`` without a live token."""
    read: TokenReader = request.app.state.read_token
    principal = principal_for_token(session, read(request))
    if principal is None:
        raise NotSignedIn
    return principal


def require(*roles: Role) -> Callable[..., Principal]:
    """A dependency admitting only ``roles``; ``OutOfScope`` (403) for the others."""

    def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if principal.role not in roles:
            raise OutOfScope(f"role {principal.role.value} may not use this")
        return principal

    return check


AnyRole = Annotated[Principal, Depends(require(Role.ADMIN, Role.AGRONOMIST, Role.BUREAU))]
FieldStaff = Annotated[Principal, Depends(require(Role.ADMIN, Role.AGRONOMIST))]
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
BureauView = Annotated[Principal, Depends(require(Role.ADMIN, Role.BUREAU))]
