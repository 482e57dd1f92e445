"""What the pages show beside the data: severity shapes and names in the page language."""

from __future__ import annotations

from typing import Final

from sqlalchemy.orm import Session

from api.usecases.registry import counties
from api.web.i18n import Translator

SEVERITY_ICONS: Final = {"critical": "◆", "warning": "▲", "info": "●"}
"""Severity shapes: meaning never rests on colour alone."""


def county_names(session: Session, t: Translator) -> dict[str, str]:
    """County display names in the page language, by id."""
    return {c.id: t.pick(c.name_zh, c.name_en) for c in counties(session)}
