"""Bureau indicators: each indicator by county against its target and the 2020→2025 path,
history charts from the snapshots, the snapshot list and CSV downloads.

The page is built on the indicators API's own functions (``api.routes.indicators``), so it
shows exactly what ``/api/v1/indicators*`` answers, with the same aggregate-only rule for the
bureau.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request, status
from fastapi.responses import RedirectResponse, Response

from analytics.indicators.coverage import CITY
from analytics.indicators.definitions import BY_KEY, DIGITISATION
from analytics.indicators.targets import current_target_set
from api.deps import DbSession, Principal, Services
from api.routes import indicators as api
from api.web.charts import Chart, Series, chart, cst_day_start_ms
from api.web.i18n import Translator
from api.web.render import fmt_cst, render, translator
from api.web.session import BureauUser, CheckedForm, base_path

router = APIRouter()

MonthParam = Annotated[str | None, Query(pattern=r"^(\d{4}-\d{2})?$")]
DayParam = Annotated[str | None, Query(pattern=r"^(\d{4}-\d{2}-\d{2})?$")]
SnapshotId = Annotated[int, Path(ge=1, le=2**62)]
STATUS_ICONS = {"achieved": "✔", "on_track": "↗", "behind": "↘", "no_data": "–",
                "no_target": "·"}


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
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
        return cls()

    @property
    def start(self) -> datetime | None:
        """Start of the first day [UTC]."""
        return None if self.first is None else _dt(cst_day_start_ms(self.first))

    @property
    def end(self) -> datetime | None:
        """End of the last day [UTC]."""
        if self.last is None:
            return None
        return _dt(cst_day_start_ms(self.last + timedelta(days=1)))

    def query(self) -> str:
        """The choice as query parameters (for links)."""
        if self.month:
            return f"period={self.month}"
        parts = [f"start={self.first.isoformat()}" if self.first else "",
                 f"end={self.last.isoformat()}" if self.last else ""]
        return "&".join(p for p in parts if p)


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def digits(unit: str) -> int:
    """Decimals to show for a unit (the coefficient needs three)."""
    return {"1": 3, "万亩": 2}.get(unit, 1)


def bar(ind: api.IndicatorOut) -> dict[str, float] | None:
    """Progress bar geometry [0-100]: the value's and the expectation's share of the way."""
    if ind.target is None or ind.expected is None:
        return None
    start = ind.baseline if ind.baseline is not None else 0.0
    span = ind.target - start
    expected = 100.0 if span == 0 else 100.0 * (ind.expected - start) / span
    value = ind.progress_pct if ind.progress_pct is not None else 0.0
    return {"value": max(0.0, min(100.0, value)), "expected": max(0.0, min(100.0, expected))}


def _ms(dt: datetime) -> int:
    return int((dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp() * 1000)


def history_chart(t: Translator, key: str, monthly: api.HistoryOut, on_demand: api.HistoryOut,
                  city: api.IndicatorOut | None, years: tuple[int, int] | None,
                  names: dict[str, str], measured_until: datetime | None) -> Chart:
    """Monthly snapshots per scope, on-demand snapshots of the city, the straight path from
    the baseline to the target, and this period's city value."""
    parts: list[tuple[Series, dict[int, float | None]]] = []
    for scope in [CITY, *sorted(s for s in monthly.series if s != CITY)]:
        points = [p for p in monthly.series.get(scope, []) if p.value is not None]
        if points:
            parts.append((Series(names.get(scope, scope), []),
                          {_ms(p.period_start): p.value for p in points}))
    extra = [p for p in on_demand.series.get(CITY, []) if p.value is not None]
    if extra:
        parts.append((Series(t("ind.on_demand_city"), [], kind="point2"),
                      {_ms(p.period_start): p.value for p in extra}))
    if city is not None and city.target is not None and years is not None:
        start = city.baseline if city.baseline is not None else 0.0
        parts.append((Series(t("ind.path"), [], kind="path"), {
            cst_day_start_ms(date(years[0] + 1, 1, 1)): start,
            cst_day_start_ms(date(years[1] + 1, 1, 1)): city.target}))
    if city is not None and city.value is not None and measured_until is not None:
        parts.append((Series(t("ind.current"), [], kind="point"),
                      {_ms(measured_until): city.value}))
    unit = BY_KEY[key].unit if key in BY_KEY else ""
    return chart("history", t("ind.history", name=t.pick(monthly.name_zh, monthly.name_en)),
                 "" if unit == "1" else t.name_of("unit", unit), parts, xfmt="month",
                 x_label=t("ind.period"))


def _evaluate(principal: Principal, session: DbSession, services: Services,
              choice: PeriodChoice, fmt: str) -> object:
    return api.current_indicators(
        principal, session, services, period=choice.month, start=choice.start, end=choice.end,
        county_id=None, threshold_pct=None, target_set=None, evidence=False,
        format="csv" if fmt == "csv" else "json")


@router.get("/indicators")
def indicators_page(request: Request, principal: BureauUser, session: DbSession,
                    services: Services, period: MonthParam = None, start: DayParam = None,
                    end: DayParam = None,
                    key: Annotated[str, Query(max_length=64)] = DIGITISATION,
                    taken: Annotated[int, Query(ge=0)] = 0) -> Response:
    """Indicators of a period (default: the last 30 days) by county against the targets."""
    t = translator(request)
    choice = PeriodChoice.parse(period, start, end)
    key = key if key in BY_KEY else DIGITISATION
    result = _evaluate(principal, session, services, choice, "json")
    assert isinstance(result, api.IndicatorsOut)
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
    monthly = api.indicator_history(key, principal, session, county_id=None, kind="monthly")
    on_demand = api.indicator_history(key, principal, session, county_id=CITY, kind="on_demand")
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
        "snapshots": api.snapshots(principal, session, kind=None, limit=24),
        "bar": bar, "digits": digits, "status_icons": STATUS_ICONS, "taken": taken,
        "csv_url": f"{base_path(request)}/indicators.csv" + (f"?{query}" if query else ""),
        "today": datetime.now(UTC).date().isoformat(),
    }, principal=principal, active="/indicators")


@router.get("/indicators.csv")
def indicators_csv(principal: BureauUser, session: DbSession, services: Services,
                   period: MonthParam = None, start: DayParam = None,
                   end: DayParam = None) -> Response:
    """The period's values by county and city as CSV (UTF-8 with BOM), as the API exports."""
    response = _evaluate(principal, session, services, PeriodChoice.parse(period, start, end),
                         "csv")
    assert isinstance(response, Response)
    return response


@router.post("/indicators/snapshots")
def take_snapshot(request: Request, principal: BureauUser, session: DbSession,
                  services: Services, form: CheckedForm) -> Response:
    """Take an on-demand snapshot of the page's period."""
    for name, pattern_len in (("period", 7), ("start", 10), ("end", 10)):
        value = form.get(name, "")
        if value and len(value) != pattern_len:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"bad {name}")
    choice = PeriodChoice.parse(form.get("period"), form.get("start"), form.get("end"))
    snap = api.create_snapshot(api.SnapshotIn(period=choice.month, start=choice.start,
                                              end=choice.end), principal, session, services)
    query = "&".join(q for q in (f"taken={snap.id}", choice.query()) if q)
    return RedirectResponse(f"{base_path(request)}/indicators?{query}",
                            status.HTTP_303_SEE_OTHER)


@router.get("/indicators/snapshots/{snapshot_id}.csv")
def snapshot_csv(snapshot_id: SnapshotId, principal: BureauUser, session: DbSession) -> Response:
    """One snapshot's values as CSV."""
    return api.export_snapshot(snapshot_id, principal, session, format="csv")
