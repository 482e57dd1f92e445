"""Dependencies shared by the routers: services, DB sessions and role checks."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Protocol

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker

from analytics.alerts.transitions import Transition
from analytics.indicators.config import IndicatorConfig
from api.auth import Role, authenticate
from storage.telemetry import TelemetryStore


class AlertControl(Protocol):
    """What the API tells the alert engine (in-process); a no-op where none runs."""

    def resolved_by_hand(self, rule_id: str, subject_id: str) -> None: ...

    def announce(self, transition: Transition) -> None: ...

    def set_site_overrides(self, site_id: str,
                           overrides: Mapping[str, Mapping[str, Any]]) -> None: ...


class NoAlertControl:
    """No engine in this process: the database is the only state to change."""

    def resolved_by_hand(self, rule_id: str, subject_id: str) -> None:
        """Nothing to tell."""

    def announce(self, transition: Transition) -> None:
        """No notifier in this process."""

    def set_site_overrides(self, site_id: str,
                           overrides: Mapping[str, Mapping[str, Any]]) -> None:
        """Nothing to tell."""


@dataclass
class ApiServices:
    """What the API needs, built by the composition root and handed to ``create_app``."""

    sessions: sessionmaker[Any]
    store: TelemetryStore
    ingest_stats: Callable[[], dict[str, Any]]
    broker_connected: Callable[[], bool | None] = field(default=lambda: None)
    on_registry_change: Callable[[], None] = field(default=lambda: None)
    alerts: AlertControl = field(default_factory=NoAlertControl)
    indicators: IndicatorConfig = field(default_factory=IndicatorConfig)


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
BureauView = Annotated[Principal, Depends(require(Role.ADMIN, Role.BUREAU))]
