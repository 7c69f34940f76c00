"""Signing in and out. In development a person picks a role and a subject and gets the same
token the API takes; elsewhere the lender's single sign-on passes its token as a bearer header
on every request, and the picker is refused."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from creditline.kernel.actors import Role
from creditline.kernel.errors import Forbidden, InvalidInput
from creditline.web.pages import CheckedForm, Form, PageRoute, VisitDep, see_other
from creditline.web.session import (
    CSRF_FIELD,
    SESSION_COOKIE,
    SIGN_IN_COOKIE,
    SIGN_IN_FORM_TTL,
    check_csrf,
    new_nonce,
    sign_in,
    sign_in_csrf,
)

router = APIRouter(route_class=PageRoute, include_in_schema=False)
SUBJECT_EXAMPLE = "demo-0001"


def _home(role: Role) -> str:
    return "/lines" if role is Role.BORROWER else "/staff"


def _local(path: str | None) -> str | None:
    """`path` if it is a path on this site (never another site's address)."""
    if path and path.startswith("/") and not path.startswith("//") and "\\" not in path:
        return path
    return None


@router.get("/")
def index(visit: VisitDep) -> Response:
    """Signed in: the person's home page; else the sign-in page."""
    if visit.session is None:
        return RedirectResponse("/sign-in", status_code=303)
    return RedirectResponse(_home(visit.session.actor.role), status_code=303)


@router.get("/sign-in")
def sign_in_page(visit: VisitDep, next: str | None = None, expired: bool = False) -> Response:
    """The development picker (role and subject), or how the lender's sign-on signs in."""
    settings = visit.container.settings
    nonce = new_nonce()
    response = visit.render(
        "sign_in.html.j2",
        development=settings.is_development,
        roles=[role.value for role in Role],
        subject=SUBJECT_EXAMPLE,
        next=_local(next) or "",
        expired=expired,
        sign_in_csrf=sign_in_csrf(settings, nonce),
    )
    response.set_cookie(
        SIGN_IN_COOKIE,
        nonce,
        max_age=int(SIGN_IN_FORM_TTL.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=not settings.is_development,
    )
    return response


@router.post("/sign-in")
def sign_in_form(visit: VisitDep, form: Form, request: Request) -> Response:
    """Development only: sign in as the role and subject picked."""
    settings = visit.container.settings
    if not settings.is_development:
        raise Forbidden("the development sign-in is off: sign in through the lender's sign-on")
    nonce = request.cookies.get(SIGN_IN_COOKIE, "")
    check_csrf(sign_in_csrf(settings, nonce) if nonce else "", form.get(CSRF_FIELD))
    try:
        role = Role(form.get("role", ""))
    except ValueError:
        raise InvalidInput("pick a role", field="role") from None
    try:
        cookie, session = sign_in(
            settings, role, form.get("subject", ""), visit.container.clock.now()
        )
    except ValueError as refused:
        raise InvalidInput(str(refused), field="subject") from None
    response = see_other(_local(form.get("next")) or _home(session.actor.role))
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=int(settings.web_session_lifetime.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=not settings.is_development,
    )
    response.delete_cookie(SIGN_IN_COOKIE)
    return response


@router.post("/sign-out")
def sign_out(visit: VisitDep, form: CheckedForm) -> Response:
    """End the session: its cookie is removed (the token itself ends at its expiry)."""
    response = see_other("/sign-in")
    response.delete_cookie(SESSION_COOKIE)
    return response
