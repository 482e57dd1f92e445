"""灌溉水有效利用系数 η by the head–tail method (首尾测算分析法), with both of its factors.

Method: 水利部农村水利司 / 中国灌溉排水发展中心, 《全国农田灌溉水有效利用系数测算分析技术
指导细则》 (2008; revised 2013): η = W_net / W_gross, the net water retained in the crop root
zone of the fields a water source serves ("田间净灌溉用水量", for dry crops the increase of the
planned wetted layer's storage an irrigation brings) divided by the gross water withdrawn at
the head ("毛灌溉用水量"). It splits into

* 渠系水利用系数 η_c = W_inlet / W_gross (conveyance: field-inlet m³ ÷ source m³), and
* 田间水利用系数 η_f = W_net / W_inlet (field: net m³ ÷ field-inlet m³),

so η = η_c · η_f. Here W_gross comes from the source meters (``role=source``), W_inlet from the
field meters (``role=field``), and W_net from farmtel's FAO-56 root-zone balance of each field
(:mod:`analytics.water.balance`, FAO-56 Eqs. 85 and 88): applied irrigation minus the deep
percolation it causes (:func:`irrigation_percolation_mm`) and minus irrigation runoff (not
modelled by the balance: taken as 0, surface tail water leaves no separate record). Where a
field's soil-moisture probes bracket every irrigation event, the measured change of root-zone
storage around each event is used instead (:func:`probe_retained_mm`); each field says which.
All volumes in m³, depths in mm over the field.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

__all__ = [
    "FieldDayRow",
    "FieldInput",
    "FieldNet",
    "HeadTail",
    "NetMethod",
    "Reason",
    "SourceInput",
    "field_net",
    "head_tail",
    "irrigation_percolation_mm",
    "pool",
    "probe_retained_mm",
]

NetMethod = Literal["probes", "balance"]
TOLERANCE_M3 = 1.0
"""Field-inlet m³ of a field's meters and of its balance may differ by this much [m³] (or 1 %),
rounding of the counters; beyond it the balance does not cover the metered water."""


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a figure is missing or a source was left out: a code, what it concerns, en/zh text."""

    code: str
    subject: str
    """The meter, field or water-source id concerned."""
    en: str
    zh: str


def irrigation_percolation_mm(*, deep_percolation_mm: float, effective_rain_mm: float,
                              etc_adj_mm: float, dr_prev_mm: float,
                              irrigation_mm: float) -> float:
    """Deep percolation caused by the day's irrigation [mm].

    FAO-56 Eq. 88 gives DP = max(P − RO + I − ETc − Dr,i−1, 0); without the irrigation the
    same day would have lost DP₀ = max(P − RO − ETc − Dr,i−1, 0), so the irrigation caused
    DP − DP₀, bounded to [0, I].

    :param deep_percolation_mm: DP of the day from the balance [mm].
    :param effective_rain_mm: P − RO entering the balance [mm].
    :param etc_adj_mm: actual crop ET ETc,adj [mm].
    :param dr_prev_mm: root-zone depletion at the end of the previous day [mm].
    :param irrigation_mm: net irrigation depth at the field inlet I [mm].
    """
    dp0 = max(effective_rain_mm - etc_adj_mm - dr_prev_mm, 0.0)
    return min(max(deep_percolation_mm - dp0, 0.0), max(irrigation_mm, 0.0))


@dataclass(frozen=True, slots=True)
class FieldDayRow:
    """One day of a field's stored balance (``analytics.water.records.FieldDay``)."""

    day: date
    irrigation_mm: float
    irrigation_m3: float
    effective_rain_mm: float
    etc_adj_mm: float
    deep_percolation_mm: float
    depletion_mm: float
    observed_depletion_mm: float | None
    rain_mm: float | None = None
    """Measured rain [mm] (None: no report)."""


def _finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


def probe_retained_mm(rows: Sequence[FieldDayRow], first: int, last: int) -> float | None:
    """Irrigation water the probes saw stay in the root zone over one event [mm].

    The event is the run of irrigated days ``rows[first..last]``; the probes' daily-mean
    depletion Dr,obs (FAO-56 Eq. 87 form, clipped to [0, TAW]: water above field capacity
    drains and is not retained) on the day before (a = first − 1) and the day after
    (b = last + 1) brackets it. The daily means sit mid-day, so the window holds half of days
    a and b: ΔS = Dr,obs,a − Dr,obs,b; retained = ΔS + ET_w − Pe_w, ET_w and Pe_w the actual
    crop ET and effective rain of the window, bounded to [0, Σ I]. (Water balance of the root
    zone over the window, FAO-56 Eq. 85 solved for the irrigation that stayed.)

    :returns: retained depth [mm], or None when a bracketing probe day is missing.
    """
    a, b = first - 1, last + 1
    if a < 0 or b >= len(rows):
        return None
    before, after = rows[a].observed_depletion_mm, rows[b].observed_depletion_mm
    if not (_finite(before) and _finite(after)):
        return None
    assert before is not None and after is not None

    def window(get: str) -> float:
        inner = sum(getattr(rows[i], get) for i in range(first, last + 1))
        return float(inner + 0.5 * (getattr(rows[a], get) + getattr(rows[b], get)))

    applied = sum(rows[i].irrigation_mm for i in range(first, last + 1))
    retained = before - after + window("etc_adj_mm") - window("effective_rain_mm")
    return min(max(retained, 0.0), applied)


@dataclass(frozen=True, slots=True)
class FieldNet:
    """Field-inlet and net irrigation of one field over a period [m³], and how net was found."""

    site_id: str
    inlet_m3: float
    """Σ metered irrigation in the field's balance [m³]."""
    balance_net_m3: float
    """Inlet minus the deep percolation it caused, from the FAO-56 balance [m³]."""
    probe_net_m3: float | None
    """Inlet retained per the probes' storage change; None unless every event is bracketed."""
    method: NetMethod
    events: int
    events_with_probes: int

    @property
    def net_m3(self) -> float:
        """The net water used: the probes' where they bracket every event, else the balance's."""
        return self.balance_net_m3 if self.probe_net_m3 is None else self.probe_net_m3


def _events(rows: Sequence[FieldDayRow]) -> list[tuple[int, int]]:
    """Runs [first, last] of consecutive irrigated days."""
    out: list[tuple[int, int]] = []
    for i, r in enumerate(rows):
        if r.irrigation_mm <= 0.0:
            continue
        consecutive = out and out[-1][1] == i - 1 and (r.day - rows[i - 1].day).days == 1
        if consecutive:
            out[-1] = (out[-1][0], i)
        else:
            out.append((i, i))
    return out


def field_net(site_id: str, rows: Sequence[FieldDayRow], *, first_day: date,
              dr_before_mm: float = 0.0) -> FieldNet:
    """Net irrigation of a field over the days ``>= first_day`` of ``rows`` (consecutive
    days, oldest first; a row before ``first_day`` serves as Dr,i−1 and probe bracket).

    :param dr_before_mm: Dr before the first row [mm] (the job starts at field capacity: 0).
    """
    inlet = net = 0.0
    dr_prev = dr_before_mm
    for r in rows:
        if r.day >= first_day and r.irrigation_mm > 0.0:
            dp = irrigation_percolation_mm(
                deep_percolation_mm=r.deep_percolation_mm, effective_rain_mm=r.effective_rain_mm,
                etc_adj_mm=r.etc_adj_mm, dr_prev_mm=dr_prev, irrigation_mm=r.irrigation_mm)
            inlet += r.irrigation_m3
            net += r.irrigation_m3 * (1.0 - dp / r.irrigation_mm)
        dr_prev = r.depletion_mm
    events = [(f, last) for f, last in _events(rows) if rows[f].day >= first_day]
    probe_net = 0.0
    bracketed = 0
    for f, last in events:
        kept = probe_retained_mm(rows, f, last)
        if kept is None:
            continue
        bracketed += 1
        applied_mm = sum(rows[i].irrigation_mm for i in range(f, last + 1))
        applied_m3 = sum(rows[i].irrigation_m3 for i in range(f, last + 1))
        probe_net += applied_m3 * kept / applied_mm
    probes = bool(events) and bracketed == len(events)
    return FieldNet(site_id=site_id, inlet_m3=inlet, balance_net_m3=net,
                    probe_net_m3=probe_net if probes else None,
                    method="probes" if probes else "balance",
                    events=len(events), events_with_probes=bracketed)


@dataclass(frozen=True, slots=True)
class FieldInput:
    """A field a water source serves: its meters' volumes from this source and its net water."""

    site_id: str
    meter_m3: Mapping[str, float]
    """Field-meter id → m³ through it in the period (meters fed by this source)."""
    all_meters_m3: float
    """m³ through every field meter of the field (all sources) in the period."""
    net: FieldNet | None
    """The field's balance figures; None when no balance was computed for it."""
    balance_missing_why: str = ""


@dataclass(frozen=True, slots=True)
class SourceInput:
    """A water source: its source meters' m³ and the fields it serves; inactive meters named."""

    source_id: str
    source_meter_m3: Mapping[str, float]
    fields: Sequence[FieldInput]
    silent_meters: Sequence[str] = ()
    """Meters of the group with no report in the period."""


@dataclass(frozen=True, slots=True)
class HeadTail:
    """η of a water source or a pool of sources, with both factors and the m³ behind them."""

    key: str
    gross_m3: float
    """Σ source-meter m³ (毛灌溉用水量)."""
    inlet_m3: float
    """Σ field-inlet m³."""
    net_m3: float
    """Σ net m³ retained in the root zones (田间净灌溉用水量)."""
    conveyance: float | None
    """渠系水利用系数 η_c = inlet ÷ gross [-]."""
    field: float | None
    """田间水利用系数 η_f = net ÷ inlet [-]."""
    coefficient: float | None
    """灌溉水有效利用系数 η = η_c · η_f = net ÷ gross [-]."""
    sources_used: tuple[str, ...] = ()
    sources_skipped: tuple[str, ...] = ()
    fields: tuple[FieldNet, ...] = ()
    reasons: tuple[Reason, ...] = ()


def _ratio(num: float, den: float) -> float | None:
    return num / den if den > 0 else None


def _field_reasons(source_id: str, f: FieldInput) -> list[Reason]:
    if f.net is None:
        why = f.balance_missing_why or "no field-water balance was computed"
        return [Reason("balance_missing", f.site_id,
                       f"field {f.site_id} (source {source_id}): {why}",
                       f"地块 {f.site_id}(水源 {source_id}):无田间水量平衡结果({why})")]
    gap = abs(f.net.inlet_m3 - f.all_meters_m3)
    if gap > max(TOLERANCE_M3, 0.01 * f.all_meters_m3):
        return [Reason(
            "balance_incomplete", f.site_id,
            f"field {f.site_id}: its meters measured {f.all_meters_m3:.0f} m³ but its root-zone "
            f"balance holds {f.net.inlet_m3:.0f} m³ of irrigation (days not computed)",
            f"地块 {f.site_id}:计量表记录 {f.all_meters_m3:.0f} m³,田间水量平衡仅含 "
            f"{f.net.inlet_m3:.0f} m³ 灌水(部分日期未计算)")]
    return []


def head_tail(src: SourceInput) -> HeadTail:
    """η, η_c and η_f of one water source (module docstring), or the reasons it has none.

    A field fed by several sources shares its net water in proportion to the m³ each source's
    meters delivered to it. A source with a silent meter is reported by its silent meters
    only (``source_meter_m3`` and ``fields`` hold the meters that reported).
    """
    gross = float(sum(src.source_meter_m3.values()))
    inlet = float(sum(v for f in src.fields for v in f.meter_m3.values()))
    reasons: list[Reason] = [
        Reason("meter_silent", m, f"meter {m} of source {src.source_id} sent no reading in "
               "the period", f"水源 {src.source_id} 的计量表 {m} 在该时段无数据")
        for m in src.silent_meters]
    if reasons:
        return HeadTail(src.source_id, gross, inlet, 0.0, None, None, None,
                        sources_skipped=(src.source_id,), reasons=tuple(reasons))
    if not src.source_meter_m3:
        reasons.append(Reason(
            "no_source_meter", src.source_id,
            f"water source {src.source_id} has no source (head) meter: gross withdrawal unknown",
            f"水源 {src.source_id} 无渠首(水源)计量表,毛取水量未知"))
    elif gross <= 0.0:
        reasons.append(Reason(
            "no_withdrawal", src.source_id,
            f"source meter(s) {', '.join(sorted(src.source_meter_m3))} recorded no withdrawal",
            f"水源计量表 {', '.join(sorted(src.source_meter_m3))} 该时段无取水"))
    if not src.fields:
        reasons.append(Reason("no_field_meter", src.source_id,
                              f"no field meter names water source {src.source_id}",
                              f"无田间计量表属于水源 {src.source_id}"))
    if gross > 0 and inlet > gross:
        reasons.append(Reason(
            "inlet_exceeds_source", src.source_id,
            f"field inlets ({', '.join(sorted(m for f in src.fields for m in f.meter_m3))}) "
            f"measured {inlet:.0f} m³, more than the {gross:.0f} m³ of source meter(s) "
            f"{', '.join(sorted(src.source_meter_m3))}: a meter is wrong or a field meter "
            "names the wrong source",
            f"田间进水 {inlet:.0f} m³ 大于水源计量表 {', '.join(sorted(src.source_meter_m3))} "
            f"的 {gross:.0f} m³:计量表有误或田间表所属水源登记错误"))
    nets: list[FieldNet] = []
    net = 0.0
    for f in src.fields:
        field_reasons = _field_reasons(src.source_id, f) if sum(f.meter_m3.values()) > 0 else []
        reasons.extend(field_reasons)
        if f.net is not None and not field_reasons:
            nets.append(f.net)
            share = _ratio(sum(f.meter_m3.values()), f.all_meters_m3) or 0.0
            net += f.net.net_m3 * share
    if reasons:
        return HeadTail(src.source_id, gross, inlet, net, None, None, None,
                        sources_skipped=(src.source_id,), fields=tuple(nets),
                        reasons=tuple(reasons))
    conveyance, field = _ratio(inlet, gross), _ratio(net, inlet)
    return HeadTail(src.source_id, gross, inlet, net, conveyance, field, _ratio(net, gross),
                    sources_used=(src.source_id,), fields=tuple(nets))


def pool(key: str, parts: Sequence[HeadTail]) -> HeadTail:
    """η of a county or the city over its sources: Σ net ÷ Σ gross over the sources with a
    valid η (η_c = Σ inlet ÷ Σ gross, η_f = Σ net ÷ Σ inlet, so η = η_c · η_f still holds);
    the others are listed in ``sources_skipped`` with their reasons. (The guideline's
    provincial figure weights sample districts by irrigated area; farmtel pools the metered
    m³, i.e. weights by gross water.)"""
    used = [p for p in parts if p.coefficient is not None]
    gross = sum(p.gross_m3 for p in used)
    inlet = sum(p.inlet_m3 for p in used)
    net = sum(p.net_m3 for p in used)
    reasons = tuple(r for p in parts if p.coefficient is None for r in p.reasons)
    if not parts:
        reasons = (Reason("no_water_source", key, "no metered water source in this scope",
                          "该范围内无计量水源"),)
    ok = bool(used) and gross > 0
    return HeadTail(
        key, gross, inlet, net,
        _ratio(inlet, gross) if ok else None, _ratio(net, inlet) if ok else None,
        _ratio(net, gross) if ok else None,
        sources_used=tuple(k for p in used for k in p.sources_used),
        sources_skipped=tuple(k for p in parts for k in p.sources_skipped),
        fields=tuple(f for p in used for f in p.fields), reasons=reasons)
