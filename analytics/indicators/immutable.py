"""Write-once tables: the ORM refuses to update or delete their rows."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import event

from storage.errors import Conflict

T = TypeVar("T", bound=type)


class ImmutableRowError(Conflict):
    """Someone tried to change or delete a write-once row."""


def write_once(cls: T) -> T:
    """Class decorator: ORM updates and deletes of ``cls`` rows raise ``ImmutableRowError``."""

    def refuse(_mapper: Any, _connection: Any, target: Any) -> None:
        raise ImmutableRowError(f"{type(target).__name__} rows are write-once")

    event.listen(cls, "before_update", refuse)
    event.listen(cls, "before_delete", refuse)
    return cls
