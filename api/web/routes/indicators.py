"""Bureau indicators: each indicator by county against its target and the 2020→2025 path,
history charts from the snapshots, the snapshot list and CSV downloads.

The page is built on the same use cases as the indicators API (``api.usecases.indicators``),
so it shows exactly what ``/api/v1/indicators*`` answers, with the same aggregate-only rule
for the bureau.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import RedirectResponse, Response

from analytics.indicators.coverage import CITY
from analytics.indicators.definitions import BY_KEY, DIGITISATION
from analytics.indicators.targets import current_target_set
from api.auth import Role
from api.deps import Admin, BureauView, DbSession, RowId, Services
from api.usecases import indicators as uc
from api.usecases import jurisdictions as juc
from api.web.charts import Chart, Series, chart
from api.web.i18n import Translator
from api.web.render import fmt_cst, render, translator
from api.web.session import CheckedForm, base_path
from storage.clock import cst_midnight_ms, cst_today, from_ms, to_ms
from storage.errors import InvalidInput

router = APIRouter()

MonthParam = Annotated[str | None, Query(pattern=r"^(\d{4}-\d{2})?$")]
DayParam = Annotated[str | None, Query(pattern=r"^(\d{4}-\d{2}-\d{2})?$")]
SnapshotId = RowId
STATUS_ICONS = {"achieved": "✔", "on_track": "↗", "behind": "↘", "no_data": "–",
                "no_target": "·", "registered_sites": "○"}
DENOMINATOR_KEYS = ("farmland_mu", "facility_mu", "livestock_head", "service_units")


@dataclass(frozen=True, slots=True)
class PeriodChoice:
    """What the page was asked for: a CST month, a range of CST days, or the last 30 days."""

    month: str | None = None
    first: date | None = None
    last: date | None = None

    @classmethod
    def parse(cls, month: str | None, first: str | None, last: str | None) -> PeriodChoice:
        """From query or form values (422 for impossible dates)."""
        try:
            if month:
                return cls(month=month)
            if first or last:
                d0 = date.fromisoformat(first) if first else None
                d1 = date.fromisoformat(last) if last else None
                if d0 and d1 and d1 < d0:
                    raise ValueError("the last day is before the first")
                return cls(first=d0, last=d1)
        except ValueError as exc:
            raise InvalidInput(str(exc)) from exc
        return cls()

    @property
    def start(self) -> datetime | None:
        """Start of the first day [UTC]."""
        return None if self.first is None else from_ms(cst_midnight_ms(self.first))

    @property
    def end(self) -> datetime | None:
        """End of the last day [UTC]."""
        if self.last is None:
            return None
        return from_ms(cst_midnight_ms(self.last + timedelta(days=1)))

    def query(self) -> str:
        """The choice as query parameters (for links)."""
        if self.month:
            return f"period={self.month}"
        parts = [f"start={self.first.isoformat()}" if self.first else "",
                 f"end={self.last.isoformat()}" if self.last else ""]
        return "&".join(p for p in parts if p)


def digits(unit: str) -> int:
    """Decimals to show for a unit (the coefficient needs three)."""
    return {"1": 3, "万亩": 2}.get(unit, 1)


def bar(ind: uc.IndicatorRow) -> dict[str, float] | None:
    """Progress bar geometry [0-100]: the value's and the expectation's share of the way."""
    if ind.target is None or ind.expected is None:
        return None
    start = ind.baseline if ind.baseline is not None else 0.0
    span = ind.target - start
    expected = 100.0 if span == 0 else 100.0 * (ind.expected - start) / span
    value = ind.progress_pct if ind.progress_pct is not None else 0.0
    return {"value": max(0.0, min(100.0, value)), "expected": max(0.0, min(100.0, expected))}


def history_chart(t: Translator, key: str, monthly: uc.History, on_demand: uc.History,
                  city: uc.IndicatorRow | None, years: tuple[int, int] | None,
                  names: dict[str, str], measured_until: datetime | None) -> Chart:
    """Monthly snapshots per scope, on-demand snapshots of the city, the straight path from
    the baseline to the target, and this period's city value."""
    parts: list[tuple[Series, dict[int, float | None]]] = []
    for scope in [CITY, *sorted(s for s in monthly.series if s != CITY)]:
        points = [p for p in monthly.series.get(scope, []) if p.value is not None]
        if points:
            parts.append((Series(names.get(scope, scope), []),
                          {to_ms(p.period_start): p.value for p in points}))
    extra = [p for p in on_demand.series.get(CITY, []) if p.value is not None]
    if extra:
        parts.append((Series(t("ind.on_demand_city"), [], kind="point2"),
                      {to_ms(p.period_start): p.value for p in extra}))
    if city is not None and city.target is not None and years is not None:
        start = city.baseline if city.baseline is not None else 0.0
        parts.append((Series(t("ind.path"), [], kind="path"), {
            cst_midnight_ms(date(years[0] + 1, 1, 1)): start,
            cst_midnight_ms(date(years[1] + 1, 1, 1)): city.target}))
    if city is not None and city.value is not None and measured_until is not None:
        parts.append((Series(t("ind.current"), [], kind="point"),
                      {to_ms(measured_until): city.value}))
    unit = BY_KEY[key].unit if key in BY_KEY else ""
    return chart("history", t("ind.history", name=t.pick(monthly.name_zh, monthly.name_en)),
                 "" if unit == "1" else t.name_of("unit", unit), parts, xfmt="month",
                 x_label=t("ind.period"))


def _ask(choice: PeriodChoice) -> uc.ReportRequest:
    return uc.ReportRequest(period=choice.month, start=choice.start, end=choice.end)


def _file(got: uc.Download) -> Response:
    return Response(got.content, media_type=got.media_type,
                    headers={"Content-Disposition": f'attachment; filename="{got.filename}"'})


@router.get("/indicators")
def indicators_page(request: Request, principal: BureauView, session: DbSession,
                    services: Services, period: MonthParam = None, start: DayParam = None,
                    end: DayParam = None,
                    key: Annotated[str, Query(max_length=64)] = DIGITISATION,
                    taken: Annotated[int, Query(ge=0)] = 0,
                    saved: Annotated[int, Query(ge=0)] = 0) -> Response:
    """Indicators of a period (default: the last 30 days) by county against the targets."""
    t = translator(request)
    choice = PeriodChoice.parse(period, start, end)
    key = key if key in BY_KEY else DIGITISATION
    result = uc.report(session, services, principal, _ask(choice))
    names = {s.scope: t.pick(s.name_zh, s.name_en) for s in result.scopes}
    city = next((s for s in result.scopes if s.scope == CITY), None)
    city_rows = city.indicators if city else []
    selected = next((i for i in city_rows if i.key == key), None)
    county_rows = [(s, next((i for i in s.indicators if i.key == key), None))
                   for s in result.scopes if s.scope != CITY]
    target_set = current_target_set(session, result.target_set.version)
    doc = target_set.doc() if target_set else None
    years = (doc.baseline_year, doc.target_year) if doc else None
    not_computed = [t.pick(d.name_zh, d.name_en) for d in (doc.targets if doc else ())
                    if d.key in result.not_computed]
    monthly = uc.history_of(session, key, None, "monthly")
    on_demand = uc.history_of(session, key, CITY, "on_demand")
    history = history_chart(t, key, monthly, on_demand, selected, years, names,
                            result.period.measured_until)
    query = choice.query()
    return render(request, "indicators.html", {
        "result": result, "city_rows": city_rows, "county_rows": county_rows, "key": key,
        "selected": selected, "choice": choice, "not_computed": not_computed, "query": query,
        "history": history,
        "has_history": any(s.kind != "path" for s in history.series),
        "charts_json": [history.spec()],
        "period_text": t("ind.period_range", start=fmt_cst(result.period.start),
                         end=fmt_cst(result.period.end)),
        "snapshots": uc.snapshots(session, None, 24),
        "bar": bar, "digits": digits, "status_icons": STATUS_ICONS, "taken": taken,
        "csv_url": f"{base_path(request)}/indicators.csv" + (f"?{query}" if query else ""),
        "today": cst_today().isoformat(), "saved": saved, "names": names,
        "known": result.official_reference, "is_admin": principal.role is Role.ADMIN,
        "denominator_keys": DENOMINATOR_KEYS,
        "reported_keys": [(d.key, t.pick(d.name_zh, d.name_en)) for d in (doc.targets if doc else ())
                          if d.key in result.not_computed],
    }, principal=principal, active="/indicators")


def _number(form: CheckedForm, name: str, kind: type[float] | type[int]) -> float | int:
    try:
        return kind(form.get(name, ""))
    except ValueError as exc:
        raise InvalidInput(f"{name} must be a number") from exc


def _entry(form: CheckedForm, *names: str) -> dict[str, object]:
    body: dict[str, object] = {n: form.get(n, "") for n in names}
    body["value"] = _number(form, "value", float)
    body["year"] = _number(form, "year", int)
    return body


@router.post("/indicators/denominators")
def add_denominator(request: Request, principal: Admin, session: DbSession,
                    form: CheckedForm) -> Response:
    """Append a version of an official denominator (admin), with its provenance."""
    row = juc.add_denominator(session, principal, _entry(form, "scope", "key", "document",
                                                         "section"))
    return RedirectResponse(f"{base_path(request)}/indicators?saved={row['id']}#admin",
                            status.HTTP_303_SEE_OTHER)


@router.post("/indicators/reported")
def add_reported(request: Request, principal: Admin, session: DbSession,
                 form: CheckedForm) -> Response:
    """Append a reported indicator value (admin), with its provenance."""
    row = juc.add_reported(session, principal, _entry(form, "scope", "key", "document", "section"))
    return RedirectResponse(f"{base_path(request)}/indicators?saved={row['id']}#admin",
                            status.HTTP_303_SEE_OTHER)


@router.get("/indicators.csv")
def indicators_csv(principal: BureauView, session: DbSession, services: Services,
                   period: MonthParam = None, start: DayParam = None,
                   end: DayParam = None) -> Response:
    """The period's values by county and city as CSV (UTF-8 with BOM), as the API exports."""
    return _file(uc.report_csv(session, services, _ask(PeriodChoice.parse(period, start, end))))


@router.post("/indicators/snapshots")
def take_snapshot(request: Request, principal: BureauView, session: DbSession,
                  services: Services, form: CheckedForm) -> Response:
    """Take an on-demand snapshot of the page's period."""
    for name, pattern_len in (("period", 7), ("start", 10), ("end", 10)):
        value = form.get(name, "")
        if value and len(value) != pattern_len:
            raise InvalidInput(f"bad {name}")
    choice = PeriodChoice.parse(form.get("period"), form.get("start"), form.get("end"))
    snap = uc.take(session, services, principal, _ask(choice))
    query = "&".join(q for q in (f"taken={snap.id}", choice.query()) if q)
    return RedirectResponse(f"{base_path(request)}/indicators?{query}",
                            status.HTTP_303_SEE_OTHER)


@router.get("/indicators/snapshots/{snapshot_id}.csv")
def snapshot_csv(snapshot_id: SnapshotId, principal: BureauView, session: DbSession) -> Response:
    """One snapshot's values as CSV."""
    return _file(uc.export(session, snapshot_id, "csv"))
