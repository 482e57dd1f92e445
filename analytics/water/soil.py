"""Soil water-holding properties of fields (FAO-56 Table 19) with Shuozhou defaults.

Source: Allen, R.G., Pereira, L.S., Raes, D., Smith, M. (1998). Crop evapotranspiration.
FAO Irrigation and Drainage Paper 56, Rome — Table 19 ("Typical soil water characteristics
for different soil types"), which gives RANGES of θFC and θWP per texture class.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

__all__ = ["LOESS_SILT_LOAM", "SOIL_TEXTURES", "SoilProperties", "soil_from_attributes"]


@dataclass(frozen=True, slots=True)
class SoilProperties:
    """Volumetric water contents bounding the available water of a soil."""

    theta_fc: float
    """Water content at field capacity θFC [m³/m³]."""
    theta_wp: float
    """Water content at wilting point θWP [m³/m³]."""
    texture: str
    source: str

    def __post_init__(self) -> None:
        if not 0.0 <= self.theta_wp < self.theta_fc <= 1.0:
            raise ValueError(f"need 0 ≤ θWP < θFC ≤ 1, got {self.theta_wp}, {self.theta_fc}")


LOESS_SILT_LOAM = SoilProperties(
    theta_fc=0.28,
    theta_wp=0.12,
    texture="silt_loam",
    source=(
        "farmtel default for the Shuozhou loess (黄土) fields: silt loam, inside the FAO-56 "
        "Table 19 silt-loam ranges θFC 0.22-0.36, θWP 0.09-0.21 (θFC−θWP 0.13-0.19); "
        "TAW 160 mm per m of roots."
    ),
)
"""Default soil of a field without soil attributes."""


def _mid(name: str, fc: tuple[float, float], wp: tuple[float, float]) -> SoilProperties:
    return SoilProperties(
        theta_fc=round((fc[0] + fc[1]) / 2.0, 4),
        theta_wp=round((wp[0] + wp[1]) / 2.0, 4),
        texture=name,
        source=f"FAO-56 Table 19 midpoints: θFC {fc[0]}-{fc[1]}, θWP {wp[0]}-{wp[1]}",
    )


SOIL_TEXTURES: Mapping[str, SoilProperties] = MappingProxyType(
    {
        s.texture: s
        for s in (
            _mid("sand", (0.07, 0.17), (0.02, 0.07)),
            _mid("loamy_sand", (0.11, 0.19), (0.03, 0.10)),
            _mid("sandy_loam", (0.18, 0.28), (0.06, 0.16)),
            _mid("loam", (0.20, 0.30), (0.07, 0.17)),
            _mid("silt_loam", (0.22, 0.36), (0.09, 0.21)),
            _mid("silt", (0.28, 0.36), (0.12, 0.22)),
            _mid("silty_clay_loam", (0.30, 0.37), (0.17, 0.24)),
            _mid("silty_clay", (0.30, 0.42), (0.17, 0.29)),
            _mid("clay", (0.32, 0.40), (0.20, 0.24)),
        )
    }
)
"""Texture class → midpoints of the FAO-56 Table 19 ranges (site attribute ``soil_texture``).
Note ``silt_loam`` here is the Table 19 midpoint (0.29/0.15), not :data:`LOESS_SILT_LOAM`."""


def soil_from_attributes(*, attributes: Mapping[str, Any]) -> SoilProperties:
    """Soil of a site from its attributes.

    Precedence: explicit ``theta_fc`` and ``theta_wp`` [m³/m³] (both needed; laboratory or
    probe-calibrated values) > ``soil_texture`` (a key of :data:`SOIL_TEXTURES`) >
    :data:`LOESS_SILT_LOAM`.

    :raises ValueError: for an unknown texture or inconsistent θ values.
    """
    fc, wp = attributes.get("theta_fc"), attributes.get("theta_wp")
    if fc is not None and wp is not None:
        texture = str(attributes.get("soil_texture", "site"))
        return SoilProperties(float(fc), float(wp), texture, "site attributes theta_fc/theta_wp")
    texture_attr = attributes.get("soil_texture")
    if texture_attr is None:
        return LOESS_SILT_LOAM
    key = str(texture_attr).strip().lower().replace(" ", "_")
    if key not in SOIL_TEXTURES:
        raise ValueError(f"unknown soil_texture {texture_attr!r}; known: {sorted(SOIL_TEXTURES)}")
    return SOIL_TEXTURES[key]
