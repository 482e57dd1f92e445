"""The import page of the devices page: upload a CSV or XLSX file of farms, sites and devices,
check it (every bad row with its reason), then apply it and download the credentials file,
which is shown once (farmtel keeps only the hashes)."""

from __future__ import annotations

from fastapi import APIRouter, Request, status
from fastapi.responses import Response

from api.auth import Principal
from api.deps import DbSession, FieldStaff, Services
from api.errors import status_of
from api.usecases import registry_import as uc
from api.web.render import render, translator
from api.web.session import CheckedUpload
from devices.bulk_import import COLUMN_ALIASES, KINDS, REQUIRED, ImportRefused, ImportReport
from devices.credentials_file import FORMATS
from storage.errors import DomainError

router = APIRouter()


def _columns() -> list[tuple[str, list[tuple[str, str, bool]]]]:
    """Per kind: (column, its aliases, required) for the page's column guide."""
    return [(kind, [(column, " / ".join(aliases), column in REQUIRED[kind])
                    for column, aliases in COLUMN_ALIASES[kind].items()]) for kind in KINDS]


def _page(request: Request, principal: Principal, *, report: ImportReport | None = None,
          error: str = "",
          status_code: int = status.HTTP_200_OK) -> Response:
    return render(request, "device_import.html", {
        "report": report, "error": error, "formats": FORMATS, "columns": _columns(),
        "max_mib": uc.MAX_IMPORT_BYTES // (1024 * 1024),
    }, principal=principal, status_code=status_code, active="/devices")


@router.get("/devices/import")
def import_page(request: Request, principal: FieldStaff) -> Response:
    """The upload form and the column guide."""
    return _page(request, principal)


@router.post("/devices/import")
def import_file(request: Request, principal: FieldStaff, session: DbSession, services: Services,
                upload: CheckedUpload) -> Response:
    """``action=check``: the dry-run report. ``action=apply``: register every row or none; on
    success the answer is the credentials file itself (an attachment, the only copy)."""
    t = translator(request)
    if not upload.data:
        return _page(request, principal, error=t("import.no_file"),
                     status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)
    try:
        if upload.fields.get("action") != "apply":
            report = uc.dry_run(session, principal, upload.data)
            return _page(request, principal, report=report)
        got = uc.apply(session, services, principal, upload.data,
                       upload.fields.get("format", "csv"))
    except ImportRefused as exc:  # the page lists why, nothing was written
        return _page(request, principal, report=exc.report, status_code=status_of(exc))
    except DomainError as exc:  # an unreadable file, a bad format
        session.rollback()
        return _page(request, principal, error=str(exc), status_code=status_of(exc))
    return Response(got.content, status.HTTP_201_CREATED, media_type=got.media_type, headers={
        "Content-Disposition": f'attachment; filename="{got.filename}"',
        "Cache-Control": "no-store",
    })
