"""The portfolio page in the console: its headline figures and charts for staff, refused to a
borrower, in both languages."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from test_staff_console import signed_in

from creditline.bootstrap import Container
from creditline.kernel.actors import Actor, Role
from creditline.kernel.ids import new_id
from creditline.web.app import create_site

AGENT = Actor("agent-1", Role.AGENT)


@pytest.fixture
def site(container: Container) -> Iterator[TestClient]:
    with TestClient(create_site(container)) as client:
        yield client


def figure(name: str, html: str) -> str:
    found = re.search(rf'data-figure="{name}">([^<]*)<', html)
    assert found is not None, html
    return found.group(1)


def test_staff_see_the_portfolio_charted(container: Container, site: TestClient) -> None:
    line = container.ledger.open_line(AGENT, new_id(), "borrower-1", "CNY", "5000.00")
    container.ledger.place_hold(
        Actor("borrower-1", Role.BORROWER), new_id(), line.document["id"], "1200.00", 3
    )
    today = container.clock.now().date().isoformat()
    signed_in(site, "analyst", "analyst-1")
    page = site.get(f"/staff/portfolio?date={today}&lang=en")
    assert page.status_code == 200, page.text
    html = page.text
    assert (figure("lines", html), figure("limit", html), figure("held", html)) == (
        "1",
        "CNY 5,000.00",
        "CNY 1,200.00",
    )
    assert figure("available", html) == "CNY 3,800.00"
    assert html.count("<svg") == 6  # exposure, utilisation, DPD × 2, vintages 30+ and 90+
    assert "Open loans by days past due" in html
    chinese = site.get(f"/staff/portfolio?date={today}&lang=zh-CN").text
    assert "资产组合报告" in chinese and chinese.count("<svg") == 6


def test_a_borrower_is_refused_the_portfolio(site: TestClient) -> None:
    signed_in(site, "borrower", "borrower-1")
    assert site.get("/staff/portfolio").status_code == 403
