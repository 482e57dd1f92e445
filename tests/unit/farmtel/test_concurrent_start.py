"""docker-compose starts every farmtel service at once on one PostgreSQL metadata database:
each seeds the counties and registers FARMTEL_ADMIN_TOKEN, and none may fail for it."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from api.auth import ApiToken
from devices.registry import County
from farmtel.runtime import Metadata, open_metadata
from tests.helpers import settings_for


@pytest.mark.parametrize("metadata_url", ["postgresql"], indirect=True)
def test_services_started_together_all_open_the_metadata(tmp_path, metadata_url):
    settings = settings_for(tmp_path, database_url=metadata_url)
    n = 6
    barrier = threading.Barrier(n)

    def start(_: int) -> Metadata:
        barrier.wait()
        return open_metadata(settings, upgrade=False)  # already at head, as after `db upgrade`

    with ThreadPoolExecutor(n) as pool:
        metas = list(pool.map(start, range(n)))
    with metas[0].sessions() as s:
        assert s.scalar(select(func.count()).select_from(County)) == 6
        assert s.scalar(select(func.count()).select_from(ApiToken)) == 1
    for meta in metas:
        meta.engine.dispose()
