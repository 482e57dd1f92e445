"""Sign-in and sign-out of the pages: a server-side session (``api.sessions``) per sign-in.

Signing in with an API token opens a session and puts its random id into the cookie (never the
token); signing out revokes that session, so the old cookie is refused afterwards even if it
was copied.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import RedirectResponse, Response

from api.auth import principal_for_token
from api.deps import DbSession, Services
from api.sessions import open_session, revoke_session
from api.web.render import render
from api.web.session import (
    Form,
    base_path,
    clear_session_cookie,
    safe_next,
    session_id,
    set_session_cookie,
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
def login(request: Request, form: Form, session: DbSession, services: Services) -> Response:
    """Check the token; on success open a session, set its cookie and go where the user was
    going."""
    principal = principal_for_token(session, form.get("token", "").strip())
    if principal is None:
        return render(request, "login.html",
                      {"next": form.get("next", ""), "error": True, "signed_out": False},
                      status_code=status.HTTP_401_UNAUTHORIZED)
    policy = services.web_sessions
    sid = open_session(session, token_id=principal.token_id, policy=policy)
    session.commit()
    response = RedirectResponse(safe_next(base_path(request), form.get("next")),
                                status.HTTP_303_SEE_OTHER)
    set_session_cookie(request, response, sid, policy.max_age_s)
    return response


@router.post("/logout")
def logout(request: Request, _form: Form, session: DbSession) -> Response:
    """Revoke the session and clear its cookie."""
    revoke_session(session, session_id(request))
    session.commit()
    response = RedirectResponse(f"{base_path(request)}/login?signed_out=true",
                                status.HTTP_303_SEE_OTHER)
    clear_session_cookie(request, response)
    return response
