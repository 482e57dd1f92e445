"""The device families: one vectorised model per catalogue device type (N = 1 or 200,000).

Each family holds its devices' state as arrays; :meth:`Family.step` advances some of them to
their report times and returns their readings. :func:`build_family` makes a family from the
per-device inputs of a fleet layout (the demo fleet and the city fleet use it alike).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from simulators.county_weather import CountyWeather
from simulators.models._family import Family
from simulators.models.barn import BarnClimate
from simulators.models.collars import Collars
from simulators.models.flow_meter import FlowMeters
from simulators.models.greenhouse import Greenhouses
from simulators.models.irrigation import IrrigationPlan
from simulators.models.soil import SoilProbes
from simulators.models.weather_station import WeatherStations

__all__ = [
    "FAMILY_CLASSES",
    "BarnClimate",
    "Collars",
    "Family",
    "FlowMeters",
    "Greenhouses",
    "IrrigationPlan",
    "SoilProbes",
    "WeatherStations",
    "build_family",
]

#: Family class per catalogue device type (every type except ``gateway``).
FAMILY_CLASSES: Mapping[str, type[Family]] = MappingProxyType({
    cls.device_type: cls
    for cls in (Collars, BarnClimate, Greenhouses, SoilProbes, FlowMeters, WeatherStations)
})


def build_family(device_type: str, seed: int, county: NDArray[np.int8],
                 prev_ms: NDArray[np.int64], weather: CountyWeather,
                 extra: Mapping[str, NDArray[Any]],
                 irrigation: IrrigationPlan | None) -> Family:
    """The family of ``device_type`` for devices in ``county`` (indexes of ``weather``'s
    drivers) whose report before the first simulated one is at ``prev_ms`` [UTC ms].

    ``extra`` holds the per-device inputs: ``barn`` (collars), ``depth_cm`` and ``field``
    (soil probes; ``field`` indexes ``irrigation``, -1 rain-fed), ``fields`` and ``source``
    (flow meters), ``elevation_offset_m`` and ``wind_height_m`` (weather stations).
    ``KeyError`` for an unknown type.
    """
    args = (seed, county, prev_ms, weather)
    if device_type == "livestock_collar":
        return Collars(*args, barn=extra["barn"].astype(np.int64))
    if device_type == "soil_moisture":
        return SoilProbes(*args, depth_cm=extra["depth_cm"].astype(np.float64),
                          field=extra["field"].astype(np.int64), irrigation=irrigation)
    if device_type == "flow_meter":
        if irrigation is None:
            raise ValueError("flow meters need an irrigation plan")
        return FlowMeters(*args, fields=extra["fields"].astype(np.int64),
                          source=extra["source"].astype(bool), irrigation=irrigation)
    if device_type == "weather_station":
        return WeatherStations(*args,
                               elevation_offset_m=extra["elevation_offset_m"].astype(np.float64),
                               wind_height_m=extra["wind_height_m"].astype(np.float64))
    cls: Any = FAMILY_CLASSES[device_type]
    family: Family = cls(*args)
    return family
