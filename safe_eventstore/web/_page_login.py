"""The login form: with a token configured, it opens the session every page needs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ._csrf import csrf_form
from ._pages import render
from ._security import log_in, log_out

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


def _safe_next(target: str) -> str:
    # Only a path of this site: "//host" or "https://host" would send the browser elsewhere.
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


@router.get("/login")
def login_form(request: Request, next: Annotated[str, Query(max_length=2000)] = "/") -> Response:
    return render(request, "login.html", next=_safe_next(next), error=None)


@router.post("/login")
def login(request: Request, form: Annotated[FormData, Depends(csrf_form)]) -> Response:
    target = _safe_next(str(form.get("next", "/")))
    if not log_in(request, str(form.get("token", ""))):
        return render(request, "login.html", status_code=401, next=target, error="wrong token")
    return RedirectResponse(target, status_code=303)


@router.post("/logout")
def logout(request: Request, form: Annotated[FormData, Depends(csrf_form)]) -> Response:
    log_out(request)
    return RedirectResponse("/login", status_code=303)
