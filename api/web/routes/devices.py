"""Devices: status (online, last seen, battery, 24-hour completeness); provisioning for admins
with the MQTT credentials shown once."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from api.auth import Principal
from api.deps import Admin, DbSession, FieldStaff, Services
from api.errors import status_of
from api.schemas import DeviceIn
from api.usecases import devices as uc
from api.usecases.completeness import device_completeness
from api.usecases.registry import names, visible_counties, visible_farms, visible_sites
from api.web.labels import county_names
from api.web.render import render, translator
from api.web.session import CheckedForm
from devices.catalogue import DEVICE_TYPES
from devices.registry import Farm, Site
from storage.errors import DomainError

router = APIRouter()

STATUSES = ("online", "offline")


@router.get("/devices")
def devices_page(request: Request, principal: FieldStaff, session: DbSession,
                 services: Services,
                 county: Annotated[str, Query(max_length=32)] = "",
                 site: Annotated[str, Query(max_length=64)] = "",
                 device_type: Annotated[str, Query(alias="type", max_length=32)] = "",
                 state: Annotated[str, Query(max_length=16)] = "",
                 retired: Annotated[str, Query(max_length=1)] = "") -> Response:
    """Device status, filtered by county, site, type, online state and retirement."""
    t = translator(request)
    gone = {"0": False, "1": True}.get(retired)
    rows = [d for d in uc.device_statuses(session, services.store, principal, retired=gone)
            if (not county or d.county_id == county) and (not site or d.site_id == site)
            and (not device_type or d.type == device_type)
            and (not state or (state == "online") == d.online)]
    return render(request, "devices.html", {
        "rows": rows, "online": sum(d.online for d in rows),
        "completeness": device_completeness(session, services, principal),
        "site_names": names(session, Site, (d.site_id for d in rows)),
        "farm_names": names(session, Farm, (d.farm_id for d in rows)),
        "county_names": county_names(session, t),
        "county_options": [(c.id, t.pick(c.name_zh, c.name_en))
                           for c in visible_counties(session, principal)],
        "site_options": [(s.id, f"{f.name} · {s.name}")
                         for s, f in visible_sites(session, principal, county=county or None)],
        "type_options": [(k, t(f"dtype.{k}")) for k in DEVICE_TYPES],
        "state_options": [(s, t(f"devices.{s}")) for s in STATUSES],
        "retired_options": [("0", t("fleet.in_service")), ("1", t("fleet.retired"))],
        "filters": {"county": county, "site": site, "type": device_type, "state": state,
                    "retired": retired},
    }, principal=principal, active="/devices")


def _form_context(session: Session, principal: Principal, form: dict[str, str],
                  error: str = "") -> dict[str, Any]:
    return {"sites": visible_sites(session, principal), "gateways": uc.gateways(session),
            "types": list(DEVICE_TYPES), "form": form, "error": error,
            "farm_names": {f.id: f.name for f in visible_farms(session, principal)}}


@router.get("/devices/new")
def new_device_page(request: Request, principal: Admin, session: DbSession) -> Response:
    """The provisioning form."""
    return render(request, "device_new.html", _form_context(session, principal, {}),
                  principal=principal, active="/devices")


@router.post("/devices/new")
def provision(request: Request, principal: Admin, session: DbSession, services: Services,
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
        issued = uc.provision(
            session, services, device_id=body.device_id, device_type=body.type,
            site_id=body.site_id, gateway_id=body.gateway_id, attributes=body.attributes)
    except ValidationError as exc:
        msg = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return render(request, "device_new.html", _form_context(session, principal, kept, msg),
                      principal=principal, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
                      active="/devices")
    except DomainError as exc:  # the form shows why, with what was typed kept
        session.rollback()
        return render(request, "device_new.html",
                      _form_context(session, principal, kept, str(exc)),
                      principal=principal, status_code=status_of(exc), active="/devices")
    return render(request, "device_created.html", {"issued": issued}, principal=principal,
                  status_code=status.HTTP_201_CREATED, active="/devices")
