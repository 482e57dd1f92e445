"""Dependencies shared by the JSON routes and the pages: services, DB sessions, the caller
and the role checks.

Both surfaces use the same role aliases. The only difference between them is how the caller is
found: each app keeps a ``PrincipalReader`` on its state (the API turns the bearer header's
token into a ``Principal``, the pages their cookie's server-side session: ``api.sessions``),
and what a missing caller looks like (``NotSignedIn``: 401 JSON for the API, a redirect to the
sign-in page for the pages).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated, Final

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from api.auth import NotSignedIn, Principal, Role, principal_for_token
from api.services import ApiServices
from storage.errors import OutOfScope

PrincipalReader = Callable[[Request, Session], Principal | None]
"""How an app finds the caller of a request (``None``: nobody signed in)."""


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer …`` header."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def bearer_principal(request: Request, session: Session) -> Principal | None:
    """The caller of a bearer token (the JSON API's reader)."""
    return principal_for_token(session, bearer_token(request))


ROW_ID_MAX: Final = 2**31 - 1
"""The largest row id (PostgreSQL ``integer``; a larger one would fail in the database)."""
RowId = Annotated[int, Path(ge=1, le=ROW_ID_MAX)]
"""A row id in a path: alerts, tokens, snapshots (404 when absent, 422 beyond the column)."""


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
    """The authenticated caller; ``NotSignedIn`` without a live token or session."""
    read: PrincipalReader = request.app.state.read_principal
    principal = read(request, session)
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
