"""The site: the API and the pages in one application, the pages' assets served from the
package (no CDN, nothing fetched at run time)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from creditline.api.app import create_app
from creditline.bootstrap import Container
from creditline.web import (
    inbox,
    lines,
    loans,
    sign_in,
    staff,
    staff_policies,
    staff_portfolio,
    staff_reviews,
    verify,
)

ROUTERS = (
    sign_in.router,
    lines.router,
    loans.router,
    inbox.router,
    verify.router,
    staff.router,
    staff_reviews.router,
    staff_policies.router,
    staff_portfolio.router,
)


def static_folder() -> Path:
    """The pages' stylesheet and the vendored htmx, inside the installed package."""
    return Path(str(resources.files("creditline.web") / "static"))


def create_site(
    container: Container,
    *,
    sweep: bool = False,
    dispatch: bool = False,
    threads: int | None = None,
) -> FastAPI:
    """The API over `container` (see `create_app`) with the borrower's pages and the staff
    console beside it: `/` leads to sign-in."""
    app = create_app(container, sweep=sweep, dispatch=dispatch, threads=threads)
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=static_folder()), name="static")
    return app
