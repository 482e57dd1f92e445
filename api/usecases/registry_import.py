"""Bulk import of farms, sites and devices from a CSV or XLSX file (``devices.bulk_import``):
a dry run answering with every bad row, and an apply answering with the new devices'
credentials file.

Who: administrators import any kind; agronomists import sites and devices on the farms of their
scope (farm rows are refused, other farms' sites and gateways look unknown); the bureau does
not import (the routes' role check).

The credentials file is the only copy of the new passwords: farmtel stores their hashes, keeps
no file and offers no second download. A lost file means rotating those devices' credentials.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from sqlalchemy.orm import Session

from api.auth import Principal
from api.services import ApiServices
from api.usecases.scope import visible_farm_ids
from devices.bulk_import import ImportReport, run_import
from devices.credentials_file import FORMATS, MEDIA_TYPES, credentials_file
from devices.import_file import read_import_file
from storage.clock import cst_datetime, now_ms
from storage.errors import InvalidInput

MAX_IMPORT_BYTES: Final = 5 * 1024 * 1024
"""The largest import file taken [bytes]; ``devices.import_file.MAX_ROWS`` bounds the rows."""


@dataclass(frozen=True, slots=True)
class CredentialsFile:
    """The downloadable answer to an apply: the file, its name and type, and the report."""

    filename: str
    media_type: str
    content: bytes
    report: ImportReport


def _scope(session: Session, principal: Principal) -> frozenset[str] | None:
    farms = visible_farm_ids(session, principal)
    return None if farms is None else frozenset(farms)


def check_size(data: bytes) -> bytes:
    """``data`` if it is not larger than ``MAX_IMPORT_BYTES``; ``InvalidInput`` otherwise."""
    if len(data) > MAX_IMPORT_BYTES:
        raise InvalidInput(f"the file is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MiB")
    return data


def dry_run(session: Session, principal: Principal, data: bytes) -> ImportReport:
    """What importing ``data`` would do: counts and every bad row; nothing is written."""
    return run_import(session, read_import_file(check_size(data)), apply=False,
                      farms_in_scope=_scope(session, principal)).report


def apply(session: Session, services: ApiServices, principal: Principal, data: bytes,
          fmt: str = "csv") -> CredentialsFile:
    """Register every row of ``data`` at once, or nothing (``ImportInvalid`` 422,
    ``ImportConflicts`` 409 with the report); the new devices' credentials as a ``fmt`` file."""
    if fmt not in FORMATS:
        raise InvalidInput(f"format must be one of {', '.join(FORMATS)}")
    result = run_import(session, read_import_file(check_size(data)), apply=True,
                        farms_in_scope=_scope(session, principal))
    session.commit()
    services.on_registry_change()
    stamp = cst_datetime(now_ms()).strftime("%Y%m%d-%H%M%S")
    return CredentialsFile(filename=f"farmtel-credentials-{stamp}.{fmt}",
                           media_type=MEDIA_TYPES[fmt],
                           content=credentials_file(result.logins, fmt), report=result.report)
