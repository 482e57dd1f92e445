"""A hand-built registry and telemetry for the indicator tests, with every figure known.

Period: 2025-06-01T00:00Z to 2025-06-02T00:00Z (one day). Devices were installed
2025-01-01 unless said otherwise. Report windows in the day: soil probe and collar every
900 s -> 96, greenhouse and barn climate every 300 s -> 288, flow meter every 600 s -> 144.

Shuocheng (朔城区)
  farm s1, township T1: field F1 100 亩 (high-standard), field F2 300 亩, greenhouse G1 2 亩,
                        barn B1 50 head, water source W1
  farm s2, township T1: field F3 100 亩
  farm s3, township T2: greenhouse G2 3 亩
  farm s4, no township: field F4 50 亩
  sm-f1  @F1  96/96              sm-f2 @F2  first 72 of 96 (75 %)
  sm-f3  @F3  all but windows 40-51 (84/96 = 87.5 %, one 12-window gap)
  sm-new @F4  installed 12:00Z, all 48 windows after that   sm-old @F4 revoked 2025-05-01
  gh-g1  @G1  288/288            gh-g2 @G2  silent
  barn-b1 @B1 silent             col-1, col-2 @B1 96/96, col-3 @B1 silent, gw-b1 gateway
  fm-w1  @W1  source, 144/144, counter +10 m³ per report
  fm-f1  @F1  field of W1, 144/144, counter +7 m³ per report
  F1's stored FAO-56 balance (field_days): CST 2025-05-31 Dr 40 mm; 06-01 and 06-02 the
  meter's 671.3 + 329.7 m³ (10.07 + 4.95 mm on 100 亩), no deep percolation (Dr 40 mm)
Huairen (怀仁市)
  farm h1, township H1: field HF1 200 亩, water source HW1
  sm-hf1 @HF1 96/96   fm-hw1 @HW1 source 144/144   fm-hf1 @HF1 field of HW1, silent
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from analytics.indicators.reference import Denominators, parse_sector_weights
from analytics.water.records import FieldDay
from devices.provisioning import create_farm, create_site
from devices.registry import Device, Farm, Site, seed_counties
from farmtel.migrate import upgrade_schema
from storage.clock import DAY_MS
from storage.metadata import make_engine, make_session_factory
from storage.sqlite import SqliteTelemetryStore
from storage.telemetry import Reading

DAY = DAY_MS
T0 = int(datetime(2025, 6, 1, tzinfo=UTC).timestamp() * 1000)
WEIGHTS = parse_sector_weights({"version": "test", "weights": [
    {"sector": "field_crops", "share": 0.5, "source": "test"},
    {"sector": "facility", "share": 0.2, "source": "test"},
    {"sector": "livestock", "share": 0.3, "source": "test"},
    {"sector": "aquaculture", "share": 0.0, "source": "test"},
]})
"""Sector weights of the tests (not the official ones)."""
NO_OFFICIAL = Denominators("none", {}, {})
"""No official denominators: every coverage figure comes from the registry."""
INSTALLED = datetime(2025, 1, 1, tzinfo=UTC)


def _device(s: Session, did: str, dtype: str, site: str, **kw: Any) -> None:
    s.add(Device(id=did, type=dtype, site_id=site, mqtt_username=did, password_hash="x",
                 created_at=kw.pop("created_at", INSTALLED), **kw))


def build_registry(s: Session) -> None:
    """Farms, sites and devices of the module docstring."""
    seed_counties(s)
    for new_farm in [
        Farm(id="s1", name="s1", county_id="shuocheng", township="T1"),
        Farm(id="s2", name="s2", county_id="shuocheng", township="T1"),
        Farm(id="s3", name="s3", county_id="shuocheng", township="T2"),
        Farm(id="s4", name="s4", county_id="shuocheng"),
        Farm(id="h1", name="h1", county_id="huairen", township="H1"),
    ]:
        create_farm(s, new_farm)
    for new_site in [
        Site(id="F1", farm_id="s1", kind="field", name="F1", area_mu=100,
             attributes={"high_standard": True}),
        Site(id="F2", farm_id="s1", kind="field", name="F2", area_mu=300),
        Site(id="G1", farm_id="s1", kind="greenhouse", name="G1", area_mu=2),
        Site(id="B1", farm_id="s1", kind="barn", name="B1", head_count=50),
        Site(id="W1", farm_id="s1", kind="water_source", name="W1"),
        Site(id="F3", farm_id="s2", kind="field", name="F3", area_mu=100),
        Site(id="G2", farm_id="s3", kind="greenhouse", name="G2", area_mu=3),
        Site(id="F4", farm_id="s4", kind="field", name="F4", area_mu=50),
        Site(id="HF1", farm_id="h1", kind="field", name="HF1", area_mu=200),
        Site(id="HW1", farm_id="h1", kind="water_source", name="HW1"),
    ]:
        create_site(s, new_site)
    s.flush()
    _device(s, "gw-b1", "gateway", "B1")
    s.flush()
    for did, site in (("sm-f1", "F1"), ("sm-f2", "F2"), ("sm-f3", "F3"), ("sm-hf1", "HF1")):
        _device(s, did, "soil_moisture", site)
    _device(s, "sm-new", "soil_moisture", "F4", created_at=datetime(2025, 6, 1, 12, tzinfo=UTC))
    _device(s, "sm-old", "soil_moisture", "F4", revoked_at=datetime(2025, 5, 1, tzinfo=UTC))
    _device(s, "gh-g1", "greenhouse_climate", "G1")
    _device(s, "gh-g2", "greenhouse_climate", "G2")
    _device(s, "barn-b1", "barn_climate", "B1", gateway_id="gw-b1")
    for n in (1, 2, 3):
        _device(s, f"col-{n}", "livestock_collar", "B1", gateway_id="gw-b1")
    _device(s, "fm-w1", "flow_meter", "W1", attributes={"role": "source"})
    _device(s, "fm-f1", "flow_meter", "F1", attributes={"role": "field", "source_site_id": "W1"})
    _device(s, "fm-hw1", "flow_meter", "HW1", attributes={"role": "source"})
    _device(s, "fm-hf1", "flow_meter", "HF1",
            attributes={"role": "field", "source_site_id": "HW1"})
    s.flush()
    for day, m3 in ((date(2025, 5, 31), 0.0), (date(2025, 6, 1), 671.3),
                    (date(2025, 6, 2), 329.7)):
        s.add(field_day("F1", day, irrigation_m3=m3, area_mu=100.0))


def field_day(site: str, day: date, *, irrigation_m3: float, area_mu: float,
              deep_percolation_mm: float = 0.0, depletion_mm: float = 40.0) -> FieldDay:
    """A stored balance day of a field: ET0 5, Kc 1, no rain."""
    return FieldDay(site_id=site, day=day, station_id="ws", et0_mm=5.0, et0_method="pm",
                    kc=1.0, etc_mm=5.0, etc_adj_mm=5.0, rain_mm=0.0, effective_rain_mm=0.0,
                    irrigation_mm=irrigation_m3 / (area_mu * 2 / 3), irrigation_m3=irrigation_m3,
                    deep_percolation_mm=deep_percolation_mm, depletion_mm=depletion_mm,
                    observed_depletion_mm=None, taw_mm=160.0, raw_mm=80.0, root_depth_m=1.0)


PLACES = {  # device -> (type, site, farm, county, quantity, interval [s])
    "sm-f1": ("soil_moisture", "F1", "s1", "shuocheng", "vwc_pct", 900),
    "sm-f2": ("soil_moisture", "F2", "s1", "shuocheng", "vwc_pct", 900),
    "sm-f3": ("soil_moisture", "F3", "s2", "shuocheng", "vwc_pct", 900),
    "sm-new": ("soil_moisture", "F4", "s4", "shuocheng", "vwc_pct", 900),
    "sm-hf1": ("soil_moisture", "HF1", "h1", "huairen", "vwc_pct", 900),
    "gh-g1": ("greenhouse_climate", "G1", "s1", "shuocheng", "air_temp_c", 300),
    "col-1": ("livestock_collar", "B1", "s1", "shuocheng", "body_temp_c", 900),
    "col-2": ("livestock_collar", "B1", "s1", "shuocheng", "body_temp_c", 900),
    "fm-w1": ("flow_meter", "W1", "s1", "shuocheng", "volume_m3", 600),
    "fm-f1": ("flow_meter", "F1", "s1", "shuocheng", "volume_m3", 600),
    "fm-hw1": ("flow_meter", "HW1", "h1", "huairen", "volume_m3", 600),
}
WINDOWS = {  # device -> indices of the windows it reported in
    "sm-f1": range(96), "sm-f2": range(72),
    "sm-f3": [i for i in range(96) if not 40 <= i <= 51],
    "sm-new": range(48, 96), "sm-hf1": range(96), "gh-g1": range(288),
    "col-1": range(96), "col-2": range(96),
    "fm-w1": range(144), "fm-f1": range(144), "fm-hw1": range(144),
}
M3_PER_REPORT = {"fm-w1": 10.0, "fm-f1": 7.0, "fm-hw1": 10.0}


def readings(devices: Iterable[str] | None = None) -> list[Reading]:
    """One reading of the representative quantity per reported window (60 s into it), plus a
    second quantity for soil probes (which must not be counted twice)."""
    out = []
    for did in devices if devices is not None else WINDOWS:
        dtype, site, farm, county, quantity, interval = PLACES[did]
        for i in WINDOWS[did]:
            ts = T0 + i * interval * 1000 + 60_000
            value = M3_PER_REPORT.get(did, 0.0) * (i + 1) if quantity == "volume_m3" else 20.0
            out.append(Reading(did, quantity, value, ts, i, 0, dtype, site, farm, county))
            if quantity == "vwc_pct":
                out.append(Reading(did, "battery_v", 3.6, ts, i, 0, dtype, site, farm, county))
    return out


def open_handbuilt(tmp_path: Path, metadata_url: str,
                   ) -> tuple[sessionmaker[Any], SqliteTelemetryStore]:
    """The metadata DB at ``metadata_url`` with the registry, and a SQLite store (in
    ``tmp_path``) with the readings."""
    engine = make_engine(metadata_url)
    import analytics.indicators.snapshots  # noqa: F401  (registers the indicator tables)

    upgrade_schema(engine)
    sessions = make_session_factory(engine)
    with sessions() as s, s.begin():
        build_registry(s)
    store = SqliteTelemetryStore(tmp_path / "telemetry.db")
    store.write(readings())
    return sessions, store
