"""Ingest counters in the metadata DB (SQLite and PostgreSQL): cumulative over the runs of a
worker identity, summed over identities; gone workers leave the live view, not the totals."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.orm import sessionmaker

from devices.registry import utcnow
from farmtel.migrate import upgrade_schema
from ingest.metrics import IngestMetrics
from ingest.stats_store import add_counters, ingest_totals, load_rows, open_run, save_stats
from storage.metadata import make_engine, make_session_factory


@pytest.fixture
def sessions(metadata_url: str) -> Iterator[sessionmaker[Any]]:
    engine = make_engine(metadata_url)
    upgrade_schema(engine)
    yield make_session_factory(engine)
    engine.dispose()


def snapshot(malformed: int, *, received: int | None = None, full: bool = False,
             spool_bytes: int = 0) -> dict[str, Any]:
    m = IngestMetrics(messages_received=received if received is not None else malformed,
                      spool_full=full, spool_bytes=spool_bytes)
    m.rejected["malformed_json"] = malformed
    return m.snapshot()


def test_counters_add_up_over_runs_of_one_identity(sessions: sessionmaker[Any]) -> None:
    open_run(sessions, "farmtel-ingest")
    save_stats(sessions, "farmtel-ingest", snapshot(40))
    open_run(sessions, "farmtel-ingest")  # a clean restart
    save_stats(sessions, "farmtel-ingest", snapshot(10))
    totals = ingest_totals(load_rows(sessions), stale_after_s=30)
    assert totals["messages_received"] == 50
    assert totals["rejected"] == {"malformed_json": 50}
    assert totals["rejected_total"] == 50
    assert (totals["workers"], totals["workers_gone"]) == (1, 0)


def test_gone_worker_leaves_live_view_and_gauges_but_not_totals(
        sessions: sessionmaker[Any]) -> None:
    save_stats(sessions, "farmtel-ingest", snapshot(5, spool_bytes=100))
    save_stats(sessions, "farmtel-ingest-1", snapshot(7, full=True, spool_bytes=900))
    rows = load_rows(sessions)
    live = ingest_totals(rows, stale_after_s=30)
    assert (live["workers"], live["spool_full"], live["spool_bytes"]) == (2, True, 1000)
    later = utcnow() + timedelta(seconds=31)  # every heartbeat is now 31 s old...
    aged = ingest_totals(rows, stale_after_s=30, now=later)
    assert (aged["workers"], aged["workers_gone"]) == (0, 2)
    assert (aged["spool_full"], aged["spool_bytes"]) == (False, 0)
    assert aged["messages_received"] == 12  # ...and still counted


def test_add_counters_leaves_gauges_out() -> None:
    total = add_counters(snapshot(1, full=True, spool_bytes=5), snapshot(2))
    assert total["messages_received"] == 3
    assert total["rejected"] == {"malformed_json": 3}
    assert "spool_full" not in total and "spool_bytes" not in total
