"""Dependencies shared by the routers: services, DB sessions and role checks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker

from api.auth import Role, authenticate
from storage.telemetry import TelemetryStore


@dataclass
class ApiServices:
    """What the API needs, built by the composition root and handed to ``create_app``."""

    sessions: sessionmaker[Any]
    store: TelemetryStore
    ingest_stats: Callable[[], dict[str, Any]]
    broker_connected: Callable[[], bool | None] = field(default=lambda: None)
    on_registry_change: Callable[[], None] = field(default=lambda: None)


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller, as its token says."""

    token_id: int
    name: str
    role: Role
    scope: dict[str, Any]


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

_bearer = HTTPBearer(auto_error=False)


def get_principal(
    session: DbSession,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The authenticated caller; 401 without a valid bearer token."""
    if credentials is None or not credentials.credentials:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "bearer token required",
                            headers={"WWW-Authenticate": "Bearer"})
    row = authenticate(session, credentials.credentials)
    if row is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid or revoked token",
                            headers={"WWW-Authenticate": "Bearer"})
    return Principal(row.id, row.name, Role(row.role), dict(row.scope or {}))


def require(*roles: Role) -> Callable[..., Principal]:
    """A dependency admitting only ``roles``; 403 for the others."""

    def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if principal.role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                f"role {principal.role.value} may not use this")
        return principal

    return check


AnyRole = Annotated[Principal, Depends(require(Role.ADMIN, Role.AGRONOMIST, Role.BUREAU))]
FieldStaff = Annotated[Principal, Depends(require(Role.ADMIN, Role.AGRONOMIST))]
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
