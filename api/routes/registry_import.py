"""Bulk import of farms, sites and devices (CSV or XLSX upload)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Literal

from fastapi import APIRouter, File, UploadFile, status
from fastapi.responses import JSONResponse, Response

from api.deps import DbSession, FieldStaff, Services
from api.usecases import registry_import as uc

router = APIRouter(prefix="/registry", tags=["registry"])


@router.post("/import", responses={
    200: {"description": "dry run: the report (counts, every bad row with its reason)"},
    201: {"description": "applied: the credentials file (attachment, the only copy)",
          "content": {"text/csv": {}, "application/vnd.openxmlformats-officedocument"
                                                  ".spreadsheetml.sheet": {}}},
    409: {"description": "refused: every row exists already (the file was applied before)"},
    422: {"description": "refused: bad rows (run the dry run for the list); nothing written"},
})
def import_registry(file: Annotated[UploadFile, File(description="CSV or XLSX")],
                    principal: FieldStaff, session: DbSession, services: Services,
                    dry_run: bool = True,
                    format: Literal["csv", "xlsx"] = "csv") -> Response:
    """Import farms, sites and devices from one file (sheets or ``[sections]`` farms, sites,
    devices; see ``devices.bulk_import`` for the columns and their Chinese aliases).

    ``dry_run=true`` (the default) answers with the report and writes nothing. ``dry_run=false``
    registers every row or none and answers with the new devices' MQTT credentials as a
    ``format`` file: that response is the only copy of the passwords (farmtel keeps hashes;
    there is no second download). Administrators import everything; agronomists sites and
    devices on the farms of their scope.
    """
    data = file.file.read(uc.MAX_IMPORT_BYTES + 1)
    if dry_run:
        return JSONResponse(asdict(uc.dry_run(session, principal, data)))
    got = uc.apply(session, services, principal, data, format)
    return Response(got.content, status.HTTP_201_CREATED, media_type=got.media_type, headers={
        "Content-Disposition": f'attachment; filename="{got.filename}"',
        "Cache-Control": "no-store",
        "X-Farmtel-Created": ",".join(f"{k}={n}" for k, n in got.report.created.items()),
    })
