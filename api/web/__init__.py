"""Web pages for agronomists and the bureau: server-rendered, Chinese by default, English on
request, charts drawn with the vendored uPlot. ``create_web_app`` builds them; nothing runs at
import time."""

from __future__ import annotations

from api.web.app import create_web_app
from api.web.app_state import LiveSettings

__all__ = ["LiveSettings", "create_web_app"]
