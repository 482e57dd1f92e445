"""Irrigation flow meters: cumulative volume and flow of the water an irrigation plan delivers."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from simulators.county_weather import CountyWeather, Weather
from simulators.models._family import F64, I64, Family
from simulators.models.irrigation import IrrigationPlan


class FlowMeters(Family):
    """Irrigation flow meters.

    Row ``i`` of ``fields`` lists the :class:`IrrigationPlan` fields meter ``i`` measures (-1
    padded): its own field for a field meter, every field its well feeds for a source meter
    (``source``). A source meter measures their sum divided by the conveyance efficiency
    (0.80-0.92), so source >= field volumes, as the irrigation water effective-use coefficient
    needs. Volume is a cumulative counter [m³], flow [m³/h].
    """

    device_type = "flow_meter"
    decimals = (3, 3)

    def __init__(self, seed: int, county: NDArray[np.int8], prev_ms: I64,
                 weather: CountyWeather, *, fields: I64, source: NDArray[np.bool_],
                 irrigation: IrrigationPlan) -> None:
        super().__init__(seed, county, prev_ms, weather)
        self.fields = fields
        self.source = source
        self.irrigation = irrigation
        self.efficiency = self.rng.uniform(0.80, 0.92, self.n)
        self.volume_m3 = self.rng.uniform(0.0, 50_000.0, self.n)

    def _readings(self, idx: I64, ts_ms: I64, w: Weather) -> F64:
        t0 = ts_ms - self.interval_ms
        delivered = np.zeros(len(idx))
        flow = np.zeros(len(idx))
        rows = self.fields[idx]
        for j in range(rows.shape[1]):
            f = rows[:, j]
            has = f >= 0
            if has.any():
                delivered[has] += self.irrigation.delivered_m3(f[has], t0[has], ts_ms[has])
                flow[has] += self.irrigation.flow_m3_h(f[has], ts_ms[has])
        scale = np.where(self.source[idx], 1.0 / self.efficiency[idx], 1.0)
        volume = self.volume_m3[idx] + delivered * scale
        self.volume_m3[idx] = volume
        flow *= scale * (1.0 + 0.01 * self.noise(idx, ts_ms, 1)[:, 0])
        return np.column_stack((volume, np.maximum(flow, 0.0)))
