"""Request and response models of the API (pydantic, at the edge only); where a use case's
own dataclass is the answer (``api.usecases.devices.DeviceStatus`` …), routes use it as is."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from api.usecases.devices import LatestValue
from devices.provisioning import DEVICE_ID_PATTERN, REGISTRY_ID_PATTERN, SITE_LIMITS

REGISTRY_ID = f"^{REGISTRY_ID_PATTERN.pattern}$"
"""Farm and site ids as a pydantic ``pattern`` (anchored: pydantic searches)."""
DEVICE_ID = f"^{DEVICE_ID_PATTERN.pattern}$"
"""Device and gateway ids as a pydantic ``pattern``."""


class CountyOut(BaseModel):
    id: str
    name_zh: str
    name_en: str
    plan_group: str


class FarmIn(BaseModel):
    id: str = Field(pattern=REGISTRY_ID)
    name: str = Field(min_length=1, max_length=128)
    county_id: str = Field(max_length=32)
    township: str | None = Field(default=None, max_length=64)


class FarmOut(FarmIn):
    retired_at: datetime | None = None


class SiteIn(BaseModel):
    """A new site; the ranges are ``devices.provisioning.SITE_LIMITS`` (checked there too)."""

    id: str = Field(pattern=REGISTRY_ID)
    farm_id: str = Field(max_length=64)
    kind: str = Field(pattern=r"^(field|greenhouse|barn|water_source)$")
    name: str = Field(min_length=1, max_length=128)
    area_mu: float | None = Field(default=None, ge=SITE_LIMITS["area_mu"][0],
                                  le=SITE_LIMITS["area_mu"][1])
    head_count: int | None = Field(default=None, ge=SITE_LIMITS["head_count"][0],
                                   le=SITE_LIMITS["head_count"][1])
    crop: str | None = Field(default=None, max_length=64)
    species: str | None = Field(default=None, max_length=64)
    lat_deg: float | None = Field(default=None, ge=SITE_LIMITS["lat_deg"][0],
                                  le=SITE_LIMITS["lat_deg"][1])
    lon_deg: float | None = Field(default=None, ge=SITE_LIMITS["lon_deg"][0],
                                  le=SITE_LIMITS["lon_deg"][1])
    elevation_m: float | None = Field(default=None, ge=SITE_LIMITS["elevation_m"][0],
                                      le=SITE_LIMITS["elevation_m"][1])
    irrigation_method: str | None = Field(
        default=None, pattern=r"^(sprinkler|micro|low_pressure_pipe|surface|rainfed)$",
        description="喷灌 sprinkler, 微灌/滴灌 micro, 低压管灌 low_pressure_pipe (高效节水), "
                    "畦灌/沟灌/漫灌 surface, 雨养 rainfed")


class SiteOut(SiteIn):
    farm_name: str
    county_id: str
    county_name_zh: str
    device_count: int = Field(description="Devices on the site that are not retired.")
    planting_date: date | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)
    retired_at: datetime | None = None


class DeviceIn(BaseModel):
    device_id: str = Field(pattern=DEVICE_ID)
    type: str = Field(max_length=32)
    site_id: str = Field(pattern=REGISTRY_ID)
    gateway_id: str | None = Field(default=None, pattern=DEVICE_ID)
    attributes: dict[str, Any] = Field(default_factory=dict)


class DeviceLatestOut(BaseModel):
    device_id: str
    type: str
    site_id: str
    values: list[LatestValue] = Field(description="Newest value per quantity, by quantity.")


class PointOut(BaseModel):
    device_id: str
    quantity: str
    ts: datetime
    value: float


class TelemetryOut(BaseModel):
    quantity: str
    unit: str
    agg: str | None
    every_s: int | None
    points: list[PointOut]


class DeadLetterOut(BaseModel):
    """One refused message: its main reason, every refusal by reason (``counts``), the device
    it is attributed to (``claimed_by_topic``: only the topic names it), an excerpt."""

    id: int
    received_at: datetime
    reason: str
    detail: str
    topic: str
    device_id: str | None
    farm_id: str | None
    claimed_by_topic: bool
    quantity: str | None
    refused: int
    counts: dict[str, int]
    payload_excerpt: str
    replayable: bool
    replayed_at: datetime | None


class ReplayAreaOut(BaseModel):
    """What the replay area holds [messages, bytes], its bounds, and how many were evicted."""

    messages: int
    bytes: int
    max_messages: int
    max_bytes: int
    evicted: int


class DeadLettersOut(BaseModel):
    counts_by_reason: dict[str, int]
    replay_area: ReplayAreaOut | None
    items: list[DeadLetterOut]


class ReplayIn(BaseModel):
    """Which kept dead letters to replay: every given condition holds."""

    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(default=None, max_length=32)
    device_id: str | None = Field(default=None, max_length=128)
    since: datetime | None = None
    until: datetime | None = None
    limit: int = Field(default=10_000, ge=1, le=100_000)


class ReplayOut(BaseModel):
    """Messages replayed (stored now, gone from the replay area) and still refused (kept)."""

    replayed: int
    still_refused: int
    readings_stored: int
    still_refused_by_reason: dict[str, int]


class FarmPatch(BaseModel):
    """Corrections to a farm: only the fields sent change (checked as a new farm's are:
    ``devices.provisioning.check_farm``)."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    township: str | None = None


class SitePatch(BaseModel):
    """Corrections to a site: only the fields sent change, ``null`` clears one (checked as a
    new site's are: ``devices.provisioning.check_site``)."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    area_mu: float | None = None
    head_count: int | None = None
    crop: str | None = None
    species: str | None = None
    planting_date: date | None = None
    lat_deg: float | None = None
    lon_deg: float | None = None
    elevation_m: float | None = None
    irrigation_method: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)


class DevicePatch(BaseModel):
    """Corrections to a device: its attributes (replaced as a whole)."""

    model_config = ConfigDict(extra="forbid")
    attributes: dict[str, Any] = Field(default_factory=dict)


class MoveIn(BaseModel):
    """Move a device to ``site_id`` from ``at`` (default now; not in the future)."""

    model_config = ConfigDict(extra="forbid")
    site_id: str = Field(max_length=64)
    at: datetime | None = None


class RetireIn(BaseModel):
    """Retire from ``at`` (default now; not in the future)."""

    model_config = ConfigDict(extra="forbid")
    at: datetime | None = None
