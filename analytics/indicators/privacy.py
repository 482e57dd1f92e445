"""k-anonymity for the bureau: breakdowns below county level only for groups of ≥ k farms."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from analytics.indicators.rollup import CompletenessRow, Level

# Levels whose rows are a single farm's data or finer; never shown to the bureau.
FARM_DETAIL_LEVELS = frozenset({Level.SITE, Level.DEVICE})


@dataclass(frozen=True, slots=True)
class Suppressed:
    """Rows kept and how many were withheld."""

    rows: list[CompletenessRow]
    withheld: int


def k_anonymous(rows: Sequence[CompletenessRow], *, min_farms: int) -> Suppressed:
    """Rows of groups with at least ``min_farms`` farms; county and city rows always pass."""
    kept = [r for r in rows if r.level in (Level.COUNTY, Level.CITY) or r.n_farms >= min_farms]
    return Suppressed(kept, len(rows) - len(kept))
