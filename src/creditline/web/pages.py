"""What every page shares: who is visiting and in which language, the form they posted (its
CSRF token checked), rendering a template, and a rejection turned into a friendly page."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any
from urllib.parse import parse_qsl, quote

from fastapi import Depends, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, PackageLoader, select_autoescape

from creditline.api.auth import Unauthenticated
from creditline.api.problems import status_of
from creditline.bootstrap import Container
from creditline.kernel.actors import Role
from creditline.kernel.errors import DomainError, InvalidInput
from creditline.kernel.ids import new_id
from creditline.kernel.money import display_amount
from creditline.web.session import CSRF_FIELD, SESSION_COOKIE, Session, check_csrf, session_of
from creditline.web.texts import (
    LANGUAGE_DEFAULT,
    LANGUAGE_NAMES,
    LANGUAGES,
    error_message,
    reasons_of,
    text,
    verification_problem,
)

log = logging.getLogger(__name__)
LANG_COOKIE = "creditline_lang"
LANG_COOKIE_SECONDS = 365 * 24 * 3600
FORM_BYTES_MAX = 16 * 1024
FORM_FIELDS_MAX = 32
_HTML = "text/html; charset=utf-8"


class Internal(DomainError):
    """What a page shows for a bug: something went wrong and nothing was changed."""

    code = "internal_error"


class SignInNeeded(Exception):
    """The page needs a signed-in person: the visitor is sent to the sign-in page."""

    def __init__(self, expired: bool) -> None:
        super().__init__("sign in")
        self.expired = expired


@dataclass(frozen=True)
class Visit:
    """One request for a page: the container, the language and the session, if any."""

    request: Request
    container: Container
    lang: str
    lang_chosen: bool  # `?lang=` on this request: remembered in a cookie
    session: Session | None

    @property
    def signed_in(self) -> Session:
        """The session, or the visitor is sent to sign in."""
        if self.session is None:
            raise SignInNeeded(expired=False)
        return self.session

    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        """The page `template` in the visit's language."""
        html = environment().get_template(template).render(**self.context(), **context)
        response = HTMLResponse(html, status_code=status, media_type=_HTML)
        if self.lang_chosen:
            response.set_cookie(
                LANG_COOKIE, self.lang, max_age=LANG_COOKIE_SECONDS, samesite="lax", httponly=True
            )
        return response

    def context(self) -> dict[str, Any]:
        """What every template may use."""
        lang = self.lang
        return {
            "lang": lang,
            "t": lambda key: text(key, lang),
            "problem_text": lambda code: verification_problem(code, lang),
            "money": lambda amount, currency: display_amount(amount, currency, lang),
            "session": self.session,
            "staff": self.session is not None and self.session.actor.role is not Role.BORROWER,
            "csrf_field": CSRF_FIELD,
            "csrf": "" if self.session is None else self.session.csrf_token,
            "path": self.request.url.path,
            "languages": [
                (code, LANGUAGE_NAMES[code], self._url_in(code))
                for code in LANGUAGES
                if code != lang
            ],
        }

    def _url_in(self, lang: str) -> str:
        """This page in another language (its query kept)."""
        url = self.request.url.include_query_params(lang=lang)
        return f"{url.path}?{url.query}"


def language_of(request: Request) -> tuple[str, bool]:
    """The page's language: `?lang=`, else the remembered choice, else Chinese; and whether
    this request chose it."""
    asked = request.query_params.get("lang")
    if asked in LANGUAGES:
        return asked, True
    remembered = request.cookies.get(LANG_COOKIE)
    return (remembered if remembered in LANGUAGES else LANGUAGE_DEFAULT), False


def visit(request: Request) -> Visit:
    """The visit: who (from the session cookie or the sign-on's bearer header) and in which
    language. An expired or broken session sends the visitor to sign in again."""
    lang, chosen = language_of(request)
    try:
        session = _session(request)
    except Unauthenticated:
        raise SignInNeeded(expired=True) from None
    return Visit(request, _container(request), lang, chosen, session)


def _container(request: Request) -> Container:
    return request.app.state.container  # type: ignore[no-any-return]


def _session(request: Request) -> Session | None:
    container = _container(request)
    return session_of(
        container.settings,
        request.cookies.get(SESSION_COOKIE),
        request.headers.get("authorization"),
        container.clock.now(),
    )


VisitDep = Annotated[Visit, Depends(visit)]


async def form_of(request: Request) -> dict[str, str]:
    """The posted form (`application/x-www-form-urlencoded`), bounded in size and fields."""
    body = await request.body()
    if len(body) > FORM_BYTES_MAX:
        raise InvalidInput(f"a form is at most {FORM_BYTES_MAX} bytes")
    try:
        fields = parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise InvalidInput("the form is not UTF-8") from None
    if len(fields) > FORM_FIELDS_MAX:
        raise InvalidInput(f"a form has at most {FORM_FIELDS_MAX} fields")
    return {name: value.strip() for name, value in fields}


Form = Annotated[dict[str, str], Depends(form_of)]


def checked_form(visit: VisitDep, form: Form) -> dict[str, str]:
    """A signed-in person's form whose CSRF token is this session's (else refused)."""
    check_csrf(visit.signed_in.csrf_token, form.get(CSRF_FIELD))
    return form


CheckedForm = Annotated[dict[str, str], Depends(checked_form)]


def field(form: dict[str, str], name: str) -> str:
    """A required field of a form (`invalid_input` naming it when empty)."""
    value = form.get(name, "")
    if not value:
        raise InvalidInput(f"{name} is required", field=name)
    return value


def new_key() -> str:
    """A fresh idempotency key for a form: the same form sent twice makes one effect."""
    return new_id()


def see_other(path: str) -> RedirectResponse:
    """After a POST: go and GET `path` (303)."""
    return RedirectResponse(path, status_code=303)


def _sign_in_redirect(request: Request, expired: bool) -> Response:
    target = "/sign-in?next=" + quote(request.url.path, safe="/")
    response = RedirectResponse(target + ("&expired=1" if expired else ""), status_code=303)
    if expired:
        response.delete_cookie(SESSION_COOKIE)
    return response


def error_page(request: Request, error: DomainError, status: int | None = None) -> HTMLResponse:
    """A rejection as a page in the visitor's language, from its stable code."""
    lang, _ = language_of(request)
    try:
        session = _session(request)
    except Unauthenticated:
        session = None
    page = Visit(request, _container(request), lang, False, session)
    return page.render(
        "error.html.j2",
        status=status or status_of(error),
        message=error_message(error, lang),
        reasons=reasons_of(error, lang),
        code=error.code,
    )


class PageRoute(APIRoute):
    """A page: a visitor who must sign in is sent to the sign-in page, and a rejection is
    shown as a friendly page rather than a problem document."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The route's handler, wrapped."""
        handler = super().get_route_handler()

        async def page(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInNeeded as needed:
                return _sign_in_redirect(request, needed.expired)
            except DomainError as error:
                return error_page(request, error)
            except Exception as bug:
                # A bug, not a rejection: the transaction rolled back; the page says so.
                log.error("page %s failed: %s", request.url.path, bug, exc_info=bug)
                return error_page(request, Internal("nothing was changed"), 500)

        return page


@cache
def environment() -> Environment:
    """The templates, loaded on first use from the package (autoescaped)."""
    return Environment(
        loader=PackageLoader("creditline.web", "templates"),
        autoescape=select_autoescape(default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
