"""When a site's crop is in the field: the calendar that season-bound alert rules obey.

A frost warning or a root-zone depletion warning only makes sense while a crop stands in the
field: between planting and harvest (FAO-56 Ch. 6, the season is the sum of the four growth
stages L_ini + L_dev + L_mid + L_late of the crop, Table 11). Greenhouses and barns are
protected all year, so their rules are never season-bound.

Rules of a field site:

* a crop known to the FAO-56 tables (``analytics.water.crop.crop_params``) with a planting
  date: in the field on [planting date, planting date + season length) (local CST days);
* a crop the tables do not know (an orchard's apple, a vineyard): a perennial stand, in the
  field all year;
* no crop, or a crop without a planting date: a bare field, no crop to protect.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from analytics.alerts.rules import Season
from analytics.alerts.transitions import OUT_OF_SEASON_NOTE
from analytics.water.crop import crop_params
from devices.registry import Site, SiteKind, current_version
from storage.clock import cst_midnight_ms

__all__ = [
    "OUT_OF_SEASON_NOTE",
    "CropWindow",
    "Season",
    "SeasonCalendar",
    "SiteSeason",
    "load_site_seasons",
    "season_of",
]

@dataclass(frozen=True, slots=True)
class CropWindow:
    """The local (CST) days a crop stands in the field: ``first`` ≤ day < ``end``."""

    first: date
    end: date

    @property
    def bounds_ms(self) -> tuple[int, int]:
        """The window as UTC instants [epoch ms): CST midnight of ``first`` and of ``end``."""
        return cst_midnight_ms(self.first), cst_midnight_ms(self.end)


@dataclass(frozen=True, slots=True)
class SiteSeason:
    """A site's kind and, for fields, when a crop stands in it.

    ``window`` is None for a bare field (``perennial`` False) and for a perennial stand
    (``perennial`` True, in the field all year).
    """

    kind: str
    window: CropWindow | None = None
    perennial: bool = False

    def crop_in_field(self, ts_ms: int) -> bool:
        """True if a season-bound rule applies to this site at ``ts_ms`` [UTC ms]."""
        if self.kind != SiteKind.FIELD or self.perennial:
            return True
        if self.window is None:
            return False
        first_ms, end_ms = self.window.bounds_ms
        return first_ms <= ts_ms < end_ms


def season_of(kind: str, crop: str | None, planting_date: date | None) -> SiteSeason:
    """The season of a site from its registry attributes (see the module docstring)."""
    if kind != SiteKind.FIELD or not crop:
        return SiteSeason(kind)
    try:
        params = crop_params(crop=crop)
    except KeyError:
        return SiteSeason(kind, perennial=True)
    if planting_date is None:
        return SiteSeason(kind)
    end = planting_date + timedelta(days=params.season_days)
    return SiteSeason(kind, CropWindow(planting_date, end))


def load_site_seasons(session: Session) -> Mapping[str, SiteSeason]:
    """The season of every site, in one query."""
    rows = session.execute(select(Site.id, Site.kind, Site.crop, Site.planting_date))
    return {site_id: season_of(kind, crop, planting) for site_id, kind, crop, planting in rows}


class SeasonCalendar:
    """Site seasons read from the registry again whenever the registry version changes."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._version: int | None = None

    def changed(self) -> Mapping[str, SiteSeason] | None:
        """Every site's season if the registry changed since the last call, else None."""
        with self._sessions() as session:
            version = current_version(session)
            if version == self._version:
                return None
            seasons = load_site_seasons(session)
        self._version = version
        return seasons
