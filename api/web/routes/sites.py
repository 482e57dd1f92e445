"""Sites (fields, greenhouses, barns, water sources) and a collar's animal, with charts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from api.deps import DbSession, FieldStaff, Services
from api.usecases.alerts import AlertFilters, list_alerts, unresolved_by_site
from api.usecases.devices import site_devices
from api.usecases.registry import (
    live_device_counts,
    visible_counties,
    visible_farms,
    visible_sites,
)
from api.usecases.scope import visible_device, visible_site
from api.usecases.telemetry import newest_ts_ms
from api.web.charts import RANGES, Window, every_label, resolve_window
from api.web.labels import county_names
from api.web.render import fmt_cst, render, translator
from api.web.sitecharts import BUILDERS, SiteView, animal_tag, collar_view
from storage.clock import now_ms
from storage.errors import NotFound

router = APIRouter()

KINDS = ("field", "greenhouse", "barn", "water_source")
SiteId = Annotated[str, Path(max_length=64)]
DeviceId = Annotated[str, Path(max_length=128)]
RangeParam = Annotated[str | None, Query(alias="range", max_length=8)]
EndParam = Annotated[str | None, Query(max_length=10)]


def _range_context(request: Request, w: Window, newest: int | None) -> dict[str, object]:
    t = translator(request)
    stale = newest is not None and newest < w.start_ms
    return {
        "window": w, "ranges": list(RANGES), "every": every_label(t, w.every_s),
        "range_start": fmt_cst(w.start_ms), "range_end": fmt_cst(w.end_ms),
        "newest": newest, "newest_text": fmt_cst(newest) if newest else "",
        "stale": stale, "newest_day": fmt_cst(newest, "%Y-%m-%d") if newest else "",
    }


def _specs(view: SiteView, x_label: str) -> list[dict[str, object]]:
    for c in view.charts:
        c.x_label = x_label
    return [c.spec() for c in view.charts]


@router.get("/sites")
def sites_page(request: Request, principal: FieldStaff, session: DbSession,
               county: Annotated[str, Query(max_length=32)] = "",
               farm: Annotated[str, Query(max_length=64)] = "",
               kind: Annotated[str, Query(max_length=16)] = "",
               retired: Annotated[str, Query(max_length=1)] = "") -> Response:
    """Every site in scope with its farm, county, devices and unresolved alerts; retired
    ones marked (and filterable)."""
    t = translator(request)
    gone = {"0": False, "1": True}.get(retired)
    rows = [(s, f) for s, f in visible_sites(session, principal, county=county or None,
                                             farm=farm or None,
                                             kind=kind if kind in KINDS else None)
            if gone is None or (s.retired_at is not None) == gone]
    site_ids = [s.id for s, _ in rows]
    return render(request, "sites.html", {
        "rows": rows, "devices": live_device_counts(session, site_ids),
        "alerts": unresolved_by_site(session, site_ids),
        "county_names": county_names(session, t),
        "county_options": [(c.id, t.pick(c.name_zh, c.name_en))
                           for c in visible_counties(session, principal)],
        "farm_options": [(f.id, f.name)
                         for f in visible_farms(session, principal, county or None)],
        "kind_options": [(k, t(f"kind.{k}")) for k in KINDS],
        "retired_options": [("0", t("fleet.in_service")), ("1", t("fleet.retired"))],
        "filters": {"county": county, "farm": farm, "kind": kind, "retired": retired},
    }, principal=principal, active="/sites")


@router.get("/sites/{site_id}")
def site_page(request: Request, site_id: SiteId, principal: FieldStaff,
              session: DbSession, services: Services, range_key: RangeParam = None,
              end: EndParam = None) -> Response:
    """A site's charts for the chosen range, aggregated to at most ~500 points each."""
    t = translator(request)
    site, farm = visible_site(session, principal, site_id)
    devices = site_devices(session, site.id)
    w = resolve_window(range_key, end, now_ms())
    builder = BUILDERS.get(site.kind)
    view = builder(session, services.store, site, w, t) if builder else SiteView()
    county = county_names(session, t).get(farm.county_id, farm.county_id)
    alerts = list_alerts(session, principal, AlertFilters(site=site.id), 20)
    return render(request, "site.html", {
        "site": site, "farm": farm, "county": county, "view": view, "alerts": alerts,
        "devices": devices,
        "charts_json": _specs(view, t("common.time")),
        **_range_context(request, w, newest_ts_ms(services.store, [d.id for d in devices])),
    }, principal=principal, active="/sites")


@router.get("/animals/{device_id}")
def animal_page(request: Request, device_id: DeviceId, principal: FieldStaff,
                session: DbSession, services: Services, range_key: RangeParam = None,
                end: EndParam = None) -> Response:
    """A collar's animal: body temperature, activity and rumination."""
    t = translator(request)
    device, site, farm = visible_device(session, principal, device_id)
    if device.type != "livestock_collar":
        raise NotFound("unknown animal")
    w = resolve_window(range_key, end, now_ms())
    view = collar_view(session, services.store, device, w, t)
    alerts = [a for a in list_alerts(session, principal, AlertFilters(site=site.id), 100)
              if a.device_id == device.id]
    return render(request, "animal.html", {
        "device": device, "tag": animal_tag(device), "site": site, "farm": farm,
        "view": view, "alerts": alerts,
        "county": county_names(session, t).get(farm.county_id, farm.county_id),
        "charts_json": _specs(view, t("common.time")),
        **_range_context(request, w, newest_ts_ms(services.store, [device.id])),
    }, principal=principal, active="/sites")
