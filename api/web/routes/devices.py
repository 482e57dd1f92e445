"""Devices: status (online, last seen, battery, 24-hour completeness); provisioning for admins
with the MQTT credentials shown once."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from analytics.indicators.periods import rolling_period
from analytics.indicators.service import measure
from api.deps import ApiServices, DbSession, Principal, Services
from api.routes.devices import create_device
from api.schemas import DeviceIn
from api.scope import visible_farm_ids
from api.web import data
from api.web.render import render, translator
from api.web.session import AdminUser, CheckedForm, FieldStaffUser
from devices.catalogue import DEVICE_TYPES
from devices.registry import Device, Farm, Site
from storage.telemetry import StoreError

router = APIRouter()

STATUSES = ("online", "offline")


def completeness(session: Session, services: ApiServices,
                 principal: Principal) -> dict[str, float | None]:
    """Each device's report completeness over the last 24 hours [%] (empty if unavailable)."""
    now = time.time_ns() // 1_000_000
    try:
        _, fleet = measure(session, services.store, period=rolling_period(now, days=1),
                           now_ms=now, config=services.indicators,
                           farm_ids=visible_farm_ids(session, principal))
    except StoreError:
        return {}
    return {k: v.completeness_pct for k, v in fleet.devices.items()}


@router.get("/devices")
def devices_page(request: Request, principal: FieldStaffUser, session: DbSession,
                 services: Services,
                 county: Annotated[str, Query(max_length=32)] = "",
                 site: Annotated[str, Query(max_length=64)] = "",
                 device_type: Annotated[str, Query(alias="type", max_length=32)] = "",
                 state: Annotated[str, Query(max_length=16)] = "") -> Response:
    """Device status, filtered by county, site, type and online state."""
    t = translator(request)
    rows = [d for d in data.device_statuses(session, services, principal)
            if (not county or d.county_id == county) and (not site or d.site_id == site)
            and (not device_type or d.type == device_type)
            and (not state or (state == "online") == d.online)]
    return render(request, "devices.html", {
        "rows": rows, "online": sum(d.online for d in rows),
        "completeness": completeness(session, services, principal),
        "site_names": data.names(session, Site, (d.site_id for d in rows)),
        "farm_names": data.names(session, Farm, (d.farm_id for d in rows)),
        "county_names": data.county_names(session, t),
        "county_options": [(c.id, t.pick(c.name_zh, c.name_en))
                           for c in data.visible_counties(session, principal)],
        "site_options": [(s.id, f"{f.name} · {s.name}")
                         for s, f in data.visible_sites(session, principal, county=county)],
        "type_options": [(k, t(f"dtype.{k}")) for k in DEVICE_TYPES],
        "state_options": [(s, t(f"devices.{s}")) for s in STATUSES],
        "filters": {"county": county, "site": site, "type": device_type, "state": state},
    }, principal=principal, active="/devices")


def _form_context(session: Session, principal: Principal, form: dict[str, str],
                  error: str = "") -> dict[str, Any]:
    sites = data.visible_sites(session, principal)
    gateways = list(session.scalars(select(Device).where(Device.type == "gateway",
                                                         Device.revoked_at.is_(None))
                                    .order_by(Device.id)))
    return {"sites": sites, "gateways": gateways, "types": list(DEVICE_TYPES), "form": form,
            "error": error, "farm_names": {f.id: f.name for f in
                                           session.scalars(select(Farm))}}


@router.get("/devices/new")
def new_device_page(request: Request, principal: AdminUser, session: DbSession) -> Response:
    """The provisioning form."""
    return render(request, "device_new.html", _form_context(session, principal, {}),
                  principal=principal, active="/devices")


@router.post("/devices/new")
def provision(request: Request, principal: AdminUser, session: DbSession, services: Services,
              form: CheckedForm) -> Response:
    """Provision a device; the page shows its MQTT password once (never stored in clear)."""
    t = translator(request)
    kept = {k: form.get(k, "") for k in ("device_id", "type", "site_id", "gateway_id",
                                         "attributes")}
    try:
        attributes = json.loads(kept["attributes"]) if kept["attributes"].strip() else {}
        if not isinstance(attributes, dict):
            raise ValueError
    except ValueError:
        return render(request, "device_new.html",
                      _form_context(session, principal, kept, t("devices.bad_json")),
                      principal=principal, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
                      active="/devices")
    try:
        body = DeviceIn(device_id=kept["device_id"].strip(), type=kept["type"],
                        site_id=kept["site_id"], gateway_id=kept["gateway_id"] or None,
                        attributes=attributes)
        issued = create_device(body, principal, session, services)
    except ValidationError as exc:
        msg = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return render(request, "device_new.html", _form_context(session, principal, kept, msg),
                      principal=principal, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
                      active="/devices")
    except HTTPException as exc:
        session.rollback()
        return render(request, "device_new.html",
                      _form_context(session, principal, kept, str(exc.detail)),
                      principal=principal, status_code=exc.status_code, active="/devices")
    return render(request, "device_created.html", {"issued": issued}, principal=principal,
                  status_code=status.HTTP_201_CREATED, active="/devices")
