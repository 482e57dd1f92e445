"""Fleet pages: a device's page (status, placements; correct, move, retire) and a site's
correction and retirement form. Every form is CSRF-checked; a refusal re-renders the page with
its reason and what was typed, a success redirects (303) to the page of the changed item.
Times typed in the forms are China Standard Time; empty means now."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, status
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from api.auth import Principal
from api.deps import DbSession, FieldStaff, Services
from api.errors import status_of
from api.schemas import DevicePatch, MoveIn, RetireIn, SitePatch
from api.services import ApiServices
from api.usecases import devices as uc
from api.usecases import registry
from api.usecases.scope import visible_device, visible_site
from api.web.labels import county_names
from api.web.render import render, translator
from api.web.session import CheckedForm, base_path
from devices.registry import Site
from storage.clock import CST
from storage.errors import DomainError

router = APIRouter()

SiteId = Annotated[str, Path(max_length=64)]
DeviceId = Annotated[str, Path(max_length=128)]

SITE_TEXT = ("name", "crop", "species")
SITE_NUMBERS = {"area_mu": float, "head_count": int, "lat_deg": float, "lon_deg": float,
                "elevation_m": float}


class FormError(ValueError):
    """A form field that cannot be read (shown on the page, 422)."""


def _at(raw: str) -> datetime | None:
    """A ``datetime-local`` value in China Standard Time; None when empty (now)."""
    if not raw.strip():
        return None
    try:
        return datetime.fromisoformat(raw.strip()).replace(tzinfo=CST)
    except ValueError as exc:
        raise FormError(f"at: {raw!r}") from exc


def _json_object(raw: str, message: str) -> dict[str, Any]:
    try:
        value = json.loads(raw) if raw.strip() else {}
    except ValueError as exc:
        raise FormError(message) from exc
    if not isinstance(value, dict):
        raise FormError(message)
    return value


def _validation_message(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())


def _attempt(request: Request, session: Session, change: Callable[[], object], done: str,
             again: Callable[[str, int], Response]) -> Response:
    """Run ``change``: redirect to ``done`` on success, else ``again(message, status)``."""
    try:
        change()
    except FormError as exc:
        return again(str(exc), status.HTTP_422_UNPROCESSABLE_CONTENT)
    except ValidationError as exc:
        return again(_validation_message(exc), status.HTTP_422_UNPROCESSABLE_CONTENT)
    except DomainError as exc:
        session.rollback()
        return again(str(exc), status_of(exc))
    return RedirectResponse(f"{base_path(request)}{done}", status.HTTP_303_SEE_OTHER)


# -- devices --

def _device_page(request: Request, session: Session, services: ApiServices, principal: Principal,
                 device_id: str, *, error: str = "", form: dict[str, str] | None = None,
                 status_code: int = status.HTTP_200_OK) -> Response:
    t = translator(request)
    device, site, farm = visible_device(session, principal, device_id)
    placed = uc.placements(session, principal, device_id)
    return render(request, "device.html", {
        "device": device, "site": site, "farm": farm,
        "status": uc.device_status(session, services.store, principal, device_id),
        "placements": placed,
        "site_names": registry.names(session, Site, (p.site_id for p in placed)),
        "county": county_names(session, t).get(farm.county_id, farm.county_id),
        "sites": [(s, f) for s, f in registry.visible_sites(session, principal)
                  if s.retired_at is None and s.id != device.site_id],
        "attributes_text": json.dumps(device.attributes or {}, ensure_ascii=False),
        "form": form or {}, "error": error,
    }, principal=principal, status_code=status_code, active="/devices")


@router.get("/devices/{device_id}")
def device_page(request: Request, device_id: DeviceId, principal: FieldStaff,
                session: DbSession, services: Services) -> Response:
    """A device: status, where it stood, and the forms to correct, move or retire it."""
    return _device_page(request, session, services, principal, device_id)


def _device_form(request: Request, session: Session, services: ApiServices, principal: Principal,
                 device_id: str, form: dict[str, str], change: Callable[[], object]) -> Response:
    def again(message: str, code: int) -> Response:
        return _device_page(request, session, services, principal, device_id, error=message,
                            form=form, status_code=code)

    return _attempt(request, session, change, f"/devices/{device_id}", again)


@router.post("/devices/{device_id}/edit")
def edit_device(request: Request, device_id: DeviceId, principal: FieldStaff, session: DbSession,
                services: Services, form: CheckedForm) -> Response:
    """Correct a device's attributes."""
    t = translator(request)

    def change() -> object:
        body = DevicePatch(attributes=_json_object(form.get("attributes", ""),
                                                   t("devices.bad_json")))
        return uc.edit(session, services, principal, device_id, body.model_dump())

    return _device_form(request, session, services, principal, device_id, form, change)


@router.post("/devices/{device_id}/move")
def move_device(request: Request, device_id: DeviceId, principal: FieldStaff, session: DbSession,
                services: Services, form: CheckedForm) -> Response:
    """Move a device to another site."""
    def change() -> object:
        body = MoveIn(site_id=form.get("site_id", ""), at=_at(form.get("at", "")))
        return uc.move(session, services, principal, device_id, body.site_id, body.at)

    return _device_form(request, session, services, principal, device_id, form, change)


@router.post("/devices/{device_id}/retire")
def retire_device(request: Request, device_id: DeviceId, principal: FieldStaff,
                  session: DbSession, services: Services, form: CheckedForm) -> Response:
    """Retire a device."""
    def change() -> object:
        body = RetireIn(at=_at(form.get("at", "")))
        return uc.retire(session, services, principal, device_id, body.at)

    return _device_form(request, session, services, principal, device_id, form, change)


# -- sites --

def _site_form_page(request: Request, session: Session, principal: Principal, site_id: str, *,
                    error: str = "", form: dict[str, str] | None = None,
                    status_code: int = status.HTTP_200_OK) -> Response:
    t = translator(request)
    site, farm = visible_site(session, principal, site_id)
    return render(request, "site_edit.html", {
        "site": site, "farm": farm,
        "county": county_names(session, t).get(farm.county_id, farm.county_id),
        "attributes_text": json.dumps(site.attributes or {}, ensure_ascii=False),
        "form": form or {}, "error": error,
    }, principal=principal, status_code=status_code, active="/sites")


@router.get("/sites/{site_id}/edit")
def site_edit_page(request: Request, site_id: SiteId, principal: FieldStaff,
                   session: DbSession) -> Response:
    """The forms to correct or retire a site."""
    return _site_form_page(request, session, principal, site_id)


def _optional(raw: str, convert: Callable[[str], object], name: str) -> object:
    if not raw.strip():
        return None
    try:
        return convert(raw.strip())
    except ValueError as exc:
        raise FormError(f"{name}: {raw!r}") from exc


def _site_changes(form: dict[str, str], bad_json: str) -> SitePatch:
    values: dict[str, Any] = {k: form.get(k, "").strip() or None for k in SITE_TEXT}
    if values["name"] is None:
        values.pop("name")  # the name stays (it cannot be cleared)
    for key, convert in SITE_NUMBERS.items():
        values[key] = _optional(form.get(key, ""), convert, key)
    values["planting_date"] = _optional(form.get("planting_date", ""), date.fromisoformat,
                                        "planting_date")
    values["attributes"] = _json_object(form.get("attributes", ""), bad_json)
    return SitePatch(**values)


def _site_form(request: Request, session: Session, principal: Principal, site_id: str,
               form: dict[str, str], change: Callable[[], object]) -> Response:
    def again(message: str, code: int) -> Response:
        return _site_form_page(request, session, principal, site_id, error=message, form=form,
                               status_code=code)

    return _attempt(request, session, change, f"/sites/{site_id}", again)


@router.post("/sites/{site_id}/edit")
def edit_site(request: Request, site_id: SiteId, principal: FieldStaff, session: DbSession,
              services: Services, form: CheckedForm) -> Response:
    """Correct a site (every field of the form is sent; an empty one is cleared)."""
    t = translator(request)

    def change() -> object:
        body = _site_changes(form, t("devices.bad_json"))
        return registry.edit_site(session, services, principal, site_id,
                                  body.model_dump(exclude_unset=True))

    return _site_form(request, session, principal, site_id, form, change)


@router.post("/sites/{site_id}/retire")
def retire_site(request: Request, site_id: SiteId, principal: FieldStaff, session: DbSession,
                services: Services, form: CheckedForm) -> Response:
    """Retire a site and its devices."""
    def change() -> object:
        body = RetireIn(at=_at(form.get("at", "")))
        return registry.retire_site(session, services, principal, site_id, body.at)

    return _site_form(request, session, principal, site_id, form, change)
