"""Device simulators: realistic, seeded telemetry for every catalogue device type.

* :class:`WeatherDriver` - shared outside weather of one Shuozhou location;
* one model per device family (:data:`MODEL_CLASSES`), each with
  ``next_readings(ts_ms) -> dict[str, float]`` in canonical units;
* :mod:`simulators.publisher` - a QoS 1 MQTT publisher that never silently drops a message
  (imported separately, so the models do not need paho-mqtt).

Importing this package creates no threads, clients or files.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from simulators.greenhouse import GreenhouseClimateModel
from simulators.livestock import BarnClimateModel, Fever, LivestockCollarModel
from simulators.models import Battery, DeviceModel, DeviceRng, derive_seed
from simulators.soil import SoilMoistureModel
from simulators.water import DailyIrrigation, FlowMeterModel, IrrigationSession
from simulators.weather import (
    SHUOZHOU,
    SHUOZHOU_COUNTIES,
    DrySpell,
    Location,
    RainEvent,
    WeatherDriver,
    WeatherState,
    WeatherStationModel,
    wind_at_height,
)

#: Model class per catalogue device type (every type except ``gateway``).
MODEL_CLASSES: Mapping[str, type[DeviceModel]] = MappingProxyType(
    {
        cls.device_type: cls
        for cls in (
            SoilMoistureModel,
            GreenhouseClimateModel,
            WeatherStationModel,
            LivestockCollarModel,
            BarnClimateModel,
            FlowMeterModel,
        )
    }
)


def create_model(device_type: str, seed: int, driver: WeatherDriver, **options: Any) -> DeviceModel:
    """A model of ``device_type`` (``KeyError`` if unknown); ``options`` go to its constructor."""
    cls: Any = MODEL_CLASSES[device_type]
    model: DeviceModel = cls(seed, driver, **options)
    return model


__all__ = [
    "MODEL_CLASSES",
    "SHUOZHOU",
    "SHUOZHOU_COUNTIES",
    "BarnClimateModel",
    "Battery",
    "DailyIrrigation",
    "DeviceModel",
    "DeviceRng",
    "DrySpell",
    "Fever",
    "FlowMeterModel",
    "GreenhouseClimateModel",
    "IrrigationSession",
    "LivestockCollarModel",
    "Location",
    "RainEvent",
    "SoilMoistureModel",
    "WeatherDriver",
    "WeatherState",
    "WeatherStationModel",
    "create_model",
    "derive_seed",
    "wind_at_height",
]
