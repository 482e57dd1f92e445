"""The credentials file of a bulk provisioning: every new device's MQTT login, as CSV or XLSX.

The file is made once, from the passwords the provisioning just issued, and handed to the
caller; farmtel keeps only the hashes, so the file can never be made again. Losing it means
rotating the devices' credentials.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import astuple, dataclass, fields
from typing import Final

FORMATS: Final = ("csv", "xlsx")
MEDIA_TYPES: Final = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@dataclass(frozen=True, slots=True)
class DeviceLogin:
    """One row of the file: a device, where it sits, and how it logs in and publishes."""

    device_id: str
    type: str
    site_id: str
    farm_id: str
    mqtt_username: str
    mqtt_password: str
    telemetry_topic: str


COLUMNS: Final = tuple(f.name for f in fields(DeviceLogin))


def credentials_csv(logins: Sequence[DeviceLogin]) -> bytes:
    """UTF-8 CSV with a byte-order mark (so Excel opens it right), a header, one row each."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerows(astuple(login) for login in logins)
    return "\ufeff".encode() + out.getvalue().encode("utf-8")


def credentials_xlsx(logins: Sequence[DeviceLogin]) -> bytes:
    """An XLSX workbook with one sheet, ``credentials``: a header, one row each."""
    from openpyxl import Workbook  # imported when an XLSX file is asked for

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "credentials"
    sheet.append(COLUMNS)
    for login in logins:
        sheet.append(astuple(login))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def credentials_file(logins: Sequence[DeviceLogin], fmt: str) -> bytes:
    """The file in ``fmt`` (one of ``FORMATS``)."""
    return credentials_xlsx(logins) if fmt == "xlsx" else credentials_csv(logins)
