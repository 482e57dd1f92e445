"""A field's irrigation method: a validated site attribute, stored, editable, migrated."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from devices import fleet
from devices.provisioning import InvalidField, create_farm, create_site
from devices.registry import (
    HIGH_EFFICIENCY_IRRIGATION,
    Farm,
    IrrigationMethod,
    Site,
    seed_counties,
)
from farmtel.migrate import upgrade_schema
from storage.metadata import make_engine, make_session_factory


@pytest.fixture
def sessions(metadata_url: str) -> sessionmaker[Session]:
    engine = make_engine(metadata_url)
    upgrade_schema(engine)
    factory: sessionmaker[Session] = make_session_factory(engine)
    with factory() as s, s.begin():
        seed_counties(s)
        create_farm(s, Farm(id="farm-a", name="A", county_id="shuocheng"))
    return factory


def test_methods_are_validated_stored_and_editable(sessions: sessionmaker[Session]) -> None:
    with sessions() as s, s.begin():
        create_site(s, Site(id="drip", farm_id="farm-a", kind="field", name="d", area_mu=10,
                            irrigation_method="micro"))
        create_site(s, Site(id="undeclared", farm_id="farm-a", kind="field", name="u"))
        with pytest.raises(InvalidField) as bad:
            create_site(s, Site(id="bad", farm_id="farm-a", kind="field", name="b",
                                irrigation_method="漫灌"))
        assert bad.value.field == "irrigation_method"
    with sessions() as s, s.begin():
        assert s.get(Site, "drip").irrigation_method == "micro"  # type: ignore[union-attr]
        assert s.get(Site, "undeclared").irrigation_method is None  # type: ignore[union-attr]
        fleet.edit_site(s, "undeclared", {"irrigation_method": "surface"})
    with sessions() as s, s.begin():
        assert s.get(Site, "undeclared").irrigation_method == "surface"  # type: ignore[union-attr]
        with pytest.raises(InvalidField):
            fleet.edit_site(s, "undeclared", {"irrigation_method": "flood"})


def test_only_sprinkler_micro_and_low_pressure_pipe_are_high_efficiency() -> None:
    assert {m.value for m in HIGH_EFFICIENCY_IRRIGATION} == {
        "sprinkler", "micro", "low_pressure_pipe"}
    assert IrrigationMethod.SURFACE not in HIGH_EFFICIENCY_IRRIGATION
