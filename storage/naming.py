"""The naming rules of the telemetry store contract: device/site ids, quantity names, tag values.

Every backend applies the same rules (they also keep names safe to put into SQL and InfluxQL):
reads refuse a bad name with ``InvalidName`` (a ``storage.errors.InvalidInput``, so a
``ValueError`` too); writes refuse a batch holding a quantity no backend can store with
``StoreRejected`` (``storable_quantity``).
"""

from __future__ import annotations

import re
from typing import Final

from storage.errors import InvalidInput
from storage.telemetry import StoreRejected

__all__ = [
    "ID_CHARS",
    "ID_MAX_LENGTH",
    "ID_PATTERN",
    "QUANTITY_PATTERN",
    "RESERVED_QUANTITIES",
    "InvalidName",
    "check_id",
    "check_quantity",
    "check_tag_value",
    "id_pattern",
    "storable_quantity",
]

QUANTITY_PATTERN: Final = re.compile(r"[a-z][a-z0-9_]{0,63}")
"""A quantity name (full match): lower-case snake case, at most 64 characters."""
ID_CHARS: Final = "A-Za-z0-9_.-"
"""The one alphabet of farm, site, device and gateway ids (a regex character-class body):
ASCII letters, digits and ``_ . -``. It is what every place an id goes accepts as is: an MQTT
topic level (no ``/ + #``), a user name in Mosquitto's password and ACL files (no ``:``, no
white space), SQL and InfluxQL literals and line-protocol tags (no quotes, no backslash)."""
ID_MAX_LENGTH: Final = 128
"""The longest device id (the ``devices.id`` column); farm and site ids have 64."""


def id_pattern(max_length: int = ID_MAX_LENGTH) -> re.Pattern[str]:
    """Ids of ``ID_CHARS`` starting with a letter or digit, at most ``max_length`` long (use
    ``fullmatch``)."""
    return re.compile(rf"[A-Za-z0-9][{ID_CHARS}]{{0,{max_length - 1}}}")


ID_PATTERN: Final = id_pattern()
"""A device or site id (full match): ``ID_CHARS``, at most ``ID_MAX_LENGTH``."""
RESERVED_QUANTITIES: Final = frozenset({"seq", "quality", "time"})
"""Names a quantity may not take: a reading's own fields, and InfluxQL's ``time`` column."""

_UNREPRESENTABLE_BACKSLASH: Final = re.compile(r"\\[, =]|\\$")


class InvalidName(InvalidInput):
    """An id, quantity name or tag value that breaks the naming rules."""


def check_quantity(quantity: str) -> str:
    """``quantity`` if it is a valid quantity name, else ``InvalidName``."""
    if not isinstance(quantity, str) or QUANTITY_PATTERN.fullmatch(quantity) is None:
        raise InvalidName(f"invalid quantity name: {quantity!r}")
    return quantity


def check_id(identifier: str) -> str:
    """``identifier`` if it is a valid device or site id, else ``InvalidName``."""
    if not isinstance(identifier, str) or ID_PATTERN.fullmatch(identifier) is None:
        raise InvalidName(f"invalid identifier: {identifier!r}")
    return identifier


def check_tag_value(value: str) -> str:
    """``value`` if InfluxDB's line protocol can carry it as a tag (or field key) faithfully,
    else ``InvalidName``: no line breaks, no trailing backslash, no backslash right before a
    ``,``, ``=`` or space."""
    if "\n" in value or "\r" in value:
        raise InvalidName(f"line break in a tag value: {value!r}")
    if "\\" in value and _UNREPRESENTABLE_BACKSLASH.search(value):
        raise InvalidName(f"backslash that line protocol cannot escape in {value!r}")
    return value


def storable_quantity(quantity: str) -> str:
    """``quantity`` if a batch may store it, else ``StoreRejected`` (an invalid or reserved
    name: the store would refuse it again, so the batch is dead-lettered, not retried)."""
    try:
        check_quantity(quantity)
    except InvalidName as exc:
        raise StoreRejected(str(exc)) from exc
    if quantity in RESERVED_QUANTITIES:
        raise StoreRejected(f"quantity name {quantity!r} is reserved")
    return quantity
