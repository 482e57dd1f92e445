"""Irrigation advice for a field for today, from its root-zone water balance.

Rule (FAO-56 Ch. 8 management-allowed depletion): irrigate when the root-zone depletion
has reached the readily available water (Dr ≥ RAW — beyond it Ks < 1 and the crop is
stressed), or will reach it by tomorrow at today's crop ET (Dr + ETc ≥ RAW). The advised
net depth refills the root zone to field capacity: net depth = Dr [mm], volume
[m³] = Dr/1000 · area [亩] · 666.67 m²/亩 — the volume to read on the field's own flow
meter (net at the field, no application efficiency).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import date, timedelta

from analytics.agronomy import readily_available_water_mm, total_available_water_mm
from analytics.water.balance import FieldBalance
from analytics.water.crop import kc_series, root_depth_m
from analytics.water.specs import FieldSpec, mu_to_m2

__all__ = ["IrrigationAdvice", "field_irrigation_advice", "irrigation_advice"]


@dataclass(frozen=True, slots=True)
class IrrigationAdvice:
    """Today's advice for one field; depth and volume are what to apply if irrigating."""

    site_id: str
    day: date
    irrigate: bool
    depletion_mm: float
    """Root-zone depletion Dr at the start of the day [mm]."""
    taw_mm: float
    """Total available water TAW [mm]."""
    raw_mm: float
    """Readily available water RAW [mm]."""
    p: float
    """Depletion fraction p [-]."""
    etc_mm_day: float
    """Expected crop ET of the day ETc [mm/day]."""
    net_depth_mm: float
    """Net depth refilling the root zone to field capacity (= Dr) [mm]."""
    volume_m3: float
    """Net volume for the field's area (field-meter reading) [m³]."""
    area_mu: float
    """Field area [亩]."""
    why: str
    why_zh: str


def _n(x: float) -> str:
    """A number for humans: one decimal, no trailing '.0'."""
    text = f"{x:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _reasons(
    *, dr: float, raw: float, taw: float, p: float, etc: float, volume: float, area_mu: float
) -> tuple[bool, str, str]:
    """(irrigate, why, why_zh) for the rule of the module docstring."""
    ctx = f"(p={p:.2f}, TAW {_n(taw)} mm); ETc {_n(etc)} mm/day"
    ctx_zh = f"(p={p:.2f},总有效水量 TAW {_n(taw)} mm);作物蒸散 ETc {_n(etc)} mm/天"
    act = f"irrigate {_n(dr)} mm net = {_n(volume)} m³ on {_n(area_mu)} mu"
    act_zh = f"建议净灌水 {_n(dr)} mm,{_n(area_mu)} 亩合 {_n(volume)} m³"
    if dr >= raw:
        return (
            True,
            f"Depletion {_n(dr)} mm ≥ RAW {_n(raw)} mm {ctx}: {act}.",
            f"根区亏缺 {_n(dr)} mm ≥ 易利用水量 RAW {_n(raw)} mm{ctx_zh}:{act_zh}。",
        )
    if dr + etc >= raw:
        return (
            True,
            f"Depletion {_n(dr)} mm + ETc reaches RAW {_n(raw)} mm by tomorrow {ctx}: {act}.",
            f"根区亏缺 {_n(dr)} mm,加今日蒸散将于明日达到易利用水量 RAW {_n(raw)} mm"
            f"{ctx_zh}:{act_zh}。",
        )
    days = math.floor((raw - dr) / etc) if etc > 0 else None
    when = f"about {days} days to RAW" if days is not None else "no depletion expected"
    when_zh = f"约 {days} 天后达到易利用水量" if days is not None else "预计不再亏缺"
    return (
        False,
        f"Depletion {_n(dr)} mm < RAW {_n(raw)} mm {ctx}: no irrigation needed ({when}).",
        f"根区亏缺 {_n(dr)} mm < 易利用水量 RAW {_n(raw)} mm{ctx_zh}:今日无需灌水({when_zh})。",
    )


def irrigation_advice(
    *,
    site_id: str,
    day: date,
    depletion_mm: float,
    taw_mm: float,
    raw_mm: float,
    p: float,
    etc_mm_day: float,
    area_mu: float,
) -> IrrigationAdvice:
    """Advice from the day's state (rule of the module docstring).

    :param depletion_mm: Dr at the start of ``day`` [mm] (clipped to [0, TAW]).
    :param taw_mm: TAW [mm].
    :param raw_mm: RAW [mm].
    :param p: depletion fraction [-] (for the explanation).
    :param etc_mm_day: expected ETc of ``day`` [mm/day].
    :param area_mu: field area [亩].
    """
    dr = min(max(depletion_mm, 0.0), taw_mm)
    volume = dr / 1000.0 * mu_to_m2(area_mu=area_mu)
    irrigate, why, why_zh = _reasons(
        dr=dr, raw=raw_mm, taw=taw_mm, p=p, etc=etc_mm_day, volume=volume, area_mu=area_mu
    )
    return IrrigationAdvice(
        site_id=site_id,
        day=day,
        irrigate=irrigate,
        depletion_mm=dr,
        taw_mm=taw_mm,
        raw_mm=raw_mm,
        p=p,
        etc_mm_day=etc_mm_day,
        net_depth_mm=dr,
        volume_m3=volume,
        area_mu=area_mu,
        why=why,
        why_zh=why_zh,
    )


def _off_season(field: FieldSpec, state: IrrigationAdvice) -> IrrigationAdvice:
    end = field.planting_date + timedelta(days=field.crop.season_days)
    return replace(
        state,
        irrigate=False,
        why=f"Outside the growing season ({field.planting_date} to {end}): no advice.",
        why_zh=f"不在生育期内({field.planting_date} 至 {end}):不作灌溉建议。",
    )


def field_irrigation_advice(
    *, field: FieldSpec, balance: FieldBalance, today: date
) -> IrrigationAdvice:
    """Advice for ``today`` from a balance ending yesterday.

    Dr = the balance's last end-of-day depletion; TAW and RAW at today's root depth;
    ETc = Kc(today) · ET0 of yesterday (persistence forecast of ET0).

    :raises ValueError: if the balance does not end on the day before ``today``.
    """
    if not balance.days or balance.days[-1] != today - timedelta(days=1):
        raise ValueError(f"the balance must end on {today - timedelta(days=1)}")
    dap = float((today - field.planting_date).days)
    zr = root_depth_m(
        day_after_planting=dap,
        l_ini=field.crop.l_ini,
        l_dev=field.crop.l_dev,
        zr_min_m=field.zr_min_m,
        zr_max_m=field.root_depth_max_m,
    )
    soil = field.soil
    taw = float(
        total_available_water_mm(theta_fc=soil.theta_fc, theta_wp=soil.theta_wp, root_depth_m=zr)
    )
    kc = float(kc_series(crop=field.crop, planting_date=field.planting_date, days=[today])[0])
    p = field.depletion_fraction_for(etc_mm_day=kc * float(balance.et0_mm[-1]))
    state = irrigation_advice(
        site_id=field.site_id,
        day=today,
        depletion_mm=float(balance.series.depletion_mm[-1]),
        taw_mm=taw,
        raw_mm=float(readily_available_water_mm(taw_mm=taw, p=p)),
        p=p,
        etc_mm_day=kc * float(balance.et0_mm[-1]),
        area_mu=field.area_mu,
    )
    if not 0 <= dap <= field.crop.season_days:
        return _off_season(field, state)
    return state
