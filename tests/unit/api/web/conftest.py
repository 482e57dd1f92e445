"""A small demo farm shared by the page tests of this package (built once per session)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from farmtel.runtime import build_api
from tests.unit.api.web.stack import WebStack, build_stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebStack]:
    built = build_stack(tmp_path_factory.mktemp("web"), devices=25, days=4)
    yield built
    built.close()


@pytest.fixture
def client(stack: WebStack) -> Iterator[TestClient]:
    with TestClient(build_api(stack.meta, stack.store), base_url="http://testserver") as c:
        yield c

