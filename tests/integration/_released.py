"""A database as the last release before migrations made it, with data: for the migration tests."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import Engine, MetaData

from devices.credentials import hash_token

RELEASED = Path(__file__).with_name("released_schema")
"""The exact SQL the released ``create_schema`` produced, per dialect."""
TOKEN = "ft_viewer_token_of_the_released_database"
T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)


def create_released_database(engine: Engine) -> None:
    """Today's released schema, made the old way (its frozen DDL), with ``schema_version`` 1."""
    sql = (RELEASED / f"v1.{engine.dialect.name}.sql").read_text()
    body = "\n".join(line for line in sql.splitlines() if not line.startswith("--"))
    with engine.begin() as conn:
        for statement in body.split(";"):
            if statement.strip():
                conn.exec_driver_sql(statement)


def insert_released_data(engine: Engine) -> None:
    """Representative rows in the released columns, written like the release wrote them
    (serial ids from the database): registry, a token, alerts with their audit trail, a
    snapshot with values and evidence, a field day, a dead letter, hourly counts."""
    meta = MetaData()
    meta.reflect(engine)
    t = meta.tables
    with engine.begin() as conn:
        conn.execute(t["counties"].insert(), [
            {"id": "legacy", "name_zh": "旧县", "name_en": "Legacy County", "plan_group": "先行示范"}])
        conn.execute(t["farms"].insert(), [
            {"id": "farm-1", "name": "Legacy farm", "county_id": "legacy", "township": "东关"}])
        conn.execute(t["sites"].insert(), [
            {"id": "site-1", "farm_id": "farm-1", "kind": "field", "name": "North field",
             "area_mu": 120.5, "head_count": None, "crop": "maize", "species": None,
             "planting_date": date(2026, 5, 1), "lat_deg": 39.33, "lon_deg": 112.43,
             "elevation_m": 1050.0, "attributes": {"soil": "loam", "irrigation": "drip"}},
            {"id": "barn-1", "farm_id": "farm-1", "kind": "barn", "name": "Barn",
             "area_mu": None, "head_count": 400, "crop": None, "species": "dairy cattle",
             "planting_date": None, "lat_deg": None, "lon_deg": None, "elevation_m": None,
             "attributes": {}}])
        device = {"attributes": {}, "password_hash": "$scrypt$released", "created_at": T0,
                  "revoked_at": None}
        conn.execute(t["devices"].insert(), [
            device | {"id": "gw-1", "type": "gateway", "site_id": "site-1", "gateway_id": None,
                      "mqtt_username": "dev-gw-1"},
            device | {"id": "soil-1", "type": "soil_probe", "site_id": "site-1",
                      "gateway_id": "gw-1", "mqtt_username": "dev-soil-1",
                      "attributes": {"depths_cm": [10, 30, 60]}},
            device | {"id": "barn-env-1", "type": "barn_env", "site_id": "barn-1",
                      "gateway_id": None, "mqtt_username": "dev-barn-env-1", "revoked_at": T0}])
        conn.execute(t["registry_version"].insert(), [{"id": 1, "version": 7}])
        conn.execute(t["api_tokens"].insert(), [
            {"name": "county viewer", "role": "viewer", "token_hash": hash_token(TOKEN),
             "scope": {"counties": ["legacy"]}, "created_at": T0, "revoked_at": None}])
        alert = {"subject_type": "device", "device_id": "soil-1", "site_id": "site-1",
                 "farm_id": "farm-1", "county_id": "legacy", "title_zh": "土壤过干",
                 "title_en": "Soil too dry", "value": 12.5, "threshold": 15.0, "note": None}
        open_id = conn.execute(t["alerts"].insert().returning(t["alerts"].c.id), alert | {
            "rule_id": "soil_dry", "subject_id": "soil-1", "severity": "warning",
            "state": "acknowledged", "opened_at": T0, "acknowledged_at": T0,
            "acknowledged_by": "agronomist", "resolved_at": None, "resolved_by": None,
            "open_key": 1}).scalar_one()
        closed_id = conn.execute(t["alerts"].insert().returning(t["alerts"].c.id), alert | {
            "rule_id": "no_data", "subject_id": "soil-1", "severity": "critical",
            "state": "resolved", "opened_at": T0, "acknowledged_at": None,
            "acknowledged_by": None, "resolved_at": T0, "resolved_by": "system",
            "open_key": None, "note": "data back"}).scalar_one()
        conn.execute(t["alert_events"].insert(), [
            {"alert_id": open_id, "at": T0, "from_state": None, "to_state": "open",
             "actor": "system", "note": None},
            {"alert_id": open_id, "at": T0, "from_state": "open", "to_state": "acknowledged",
             "actor": "agronomist", "note": "irrigating tomorrow"},
            {"alert_id": closed_id, "at": T0, "from_state": None, "to_state": "open",
             "actor": "system", "note": None},
            {"alert_id": closed_id, "at": T0, "from_state": "open", "to_state": "resolved",
             "actor": "system", "note": "data back"}])
        set_id = conn.execute(t["indicator_target_sets"].insert().returning(
            t["indicator_target_sets"].c.id), {
            "version": "plan-2026", "title": "朔州市十四五规划", "baseline_year": 2025,
            "target_year": 2030, "source": {"document": "plan.pdf", "page": 12},
            "created_at": T0, "created_by": "bureau"}).scalar_one()
        conn.execute(t["indicator_targets"].insert(), [
            {"set_id": set_id, "position": 0, "key": "water_saving", "name_zh": "节水",
             "name_en": "Water saving", "unit": "%", "baseline": 0.0, "target": 20.0,
             "scope": "city", "source_ref": "p. 12"}])
        snap = t["indicator_snapshots"]
        snapshot_id = conn.execute(snap.insert().returning(snap.c.id), {
            "kind": "monthly", "month": "2026-06", "period_label": "2026年6月",
            "period_start": T0, "period_end": T0, "measured_until": T0, "created_at": T0,
            "created_by": "bureau", "target_set_id": set_id, "active_threshold_pct": 80.0,
            "reference": {"devices": 3}}).scalar_one()
        value = {"snapshot_id": snapshot_id, "name_zh": "节水", "name_en": "Water saving",
                 "unit": "%", "baseline": 0.0, "target": 20.0, "expected": 4.0,
                 "status": "on_track"}
        conn.execute(t["indicator_snapshot_values"].insert(), [
            value | {"key": "water_saving", "scope": "city", "value": 5.5, "progress_pct": 27.5},
            value | {"key": "water_saving", "scope": "legacy", "value": None,
                     "progress_pct": None, "status": "no_data"}])
        conn.execute(t["indicator_snapshot_evidence"].insert(), [
            {"snapshot_id": snapshot_id, "evidence": {"sites": ["site-1"], "days": 30}}])
        conn.execute(t["field_days"].insert(), [
            {"site_id": "site-1", "day": date(2026, 6, 1), "station_id": "gw-1",
             "et0_mm": 5.1, "et0_method": "fao56", "kc": 1.2, "etc_mm": 6.12,
             "etc_adj_mm": 6.0, "rain_mm": None, "effective_rain_mm": 0.0,
             "irrigation_mm": 20.0, "irrigation_m3": 1606.7, "deep_percolation_mm": 0.5,
             "depletion_mm": 31.0, "observed_depletion_mm": 29.5, "taw_mm": 120.0,
             "raw_mm": 66.0, "root_depth_m": 0.8, "computed_at": T0}])
        conn.execute(t["dead_letters"].insert(), [
            {"received_at": T0, "reason": "bad_json", "detail": "not JSON", "topic": "t/x",
             "device_id": None, "quantity": None, "payload": b"\x00\xffnot json"}])
        conn.execute(t["indicator_hourly_counts"].insert(), [
            {"day": date(2026, 6, 1), "quantity": "soil_moisture", "hours": 24, "final": True,
             "n_devices": 2, "list_key": "k" * 40, "device_ids": "soil-1\nbarn-env-1",
             "counts": bytes(range(48)), "counters": None, "updated_at": T0}])
