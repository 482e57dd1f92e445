"""Sign-in and sign-out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import RedirectResponse, Response

from api.auth import principal_for_token
from api.deps import DbSession
from api.web.render import render
from api.web.session import (
    SESSION_COOKIE,
    SESSION_MAX_AGE_S,
    Form,
    base_path,
    safe_next,
)

router = APIRouter()


@router.get("/login")
def login_page(request: Request,
               next_page: Annotated[str, Query(alias="next", max_length=500)] = "",
               signed_out: bool = False) -> Response:
    """The sign-in form."""
    return render(request, "login.html", {"next": next_page, "error": False,
                                          "signed_out": signed_out})


@router.post("/login")
def login(request: Request, form: Form, session: DbSession) -> Response:
    """Check the token; on success set the session cookie and go where the user was going."""
    token = form.get("token", "").strip()
    base = base_path(request)
    if principal_for_token(session, token) is None:
        return render(request, "login.html",
                      {"next": form.get("next", ""), "error": True, "signed_out": False},
                      status_code=status.HTTP_401_UNAUTHORIZED)
    response = RedirectResponse(safe_next(base, form.get("next")), status.HTTP_303_SEE_OTHER)
    response.set_cookie(SESSION_COOKIE, token, max_age=SESSION_MAX_AGE_S, path=base or "/",
                        httponly=True, samesite="strict", secure=request.url.scheme == "https")
    return response


@router.post("/logout")
def logout(request: Request, _form: Form) -> Response:
    """Clear the session cookie."""
    base = base_path(request)
    response = RedirectResponse(f"{base}/login?signed_out=true", status.HTTP_303_SEE_OTHER)
    response.delete_cookie(SESSION_COOKIE, path=base or "/", httponly=True, samesite="strict",
                           secure=request.url.scheme == "https")
    return response
