"""The pages over HTTP, without a browser (tests/e2e/test_web_browser.py drives one).

Signing in: the development picker gives the API's own token in an HttpOnly, SameSite=Lax
cookie that expires; every form needs its session's CSRF token; outside development the picker
is refused and the lender's sign-on passes a bearer token. Rejections are friendly messages in
the page's language, from the problem documents' codes."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import TEST_CONTACTS, suite_settings
from fastapi.testclient import TestClient

from creditline.api.auth import issue_token
from creditline.bootstrap import Container, build
from creditline.config import DEFAULT_KEY_ID, Settings, SigningKey
from creditline.kernel.actors import Actor, Role
from creditline.kernel.clock import FixedClock
from creditline.web.app import create_site
from creditline.web.session import SESSION_COOKIE

CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')
PRODUCTION_KEY = "p" * 32


@pytest.fixture
def site_container(tmp_path: Path, sqlite_template: Path, clock: FixedClock) -> Iterator[Container]:
    store = tmp_path / "creditline.db"
    store.write_bytes(sqlite_template.read_bytes())
    built = build(suite_settings(f"sqlite:///{store}"), clock, migrate=False)
    yield built
    built.close()


@pytest.fixture
def site(site_container: Container) -> Iterator[TestClient]:
    with TestClient(create_site(site_container)) as client:
        yield client


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found is not None, html
    return found.group(1)


def signed_in(site: TestClient, role: str = "borrower", subject: str = "borrower-1") -> str:
    """Sign in with the picker; the CSRF token of the session's forms."""
    form = site.get("/sign-in")
    answer = site.post(
        "/sign-in",
        data={"csrf_token": csrf_of(form.text), "role": role, "subject": subject, "next": ""},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return csrf_of(site.get(answer.headers["location"]).text)


def test_the_front_page_leads_to_sign_in(site: TestClient) -> None:
    answer = site.get("/", follow_redirects=False)
    assert (answer.status_code, answer.headers["location"]) == (303, "/sign-in")
    page = site.get("/sign-in")
    assert '<html lang="zh-CN">' in page.text
    assert '<select id="role" name="role">' in page.text
    assert '<label for="subject">' in page.text


def test_the_picker_gives_the_apis_own_token_in_a_cookie_that_expires(
    site: TestClient, site_container: Container
) -> None:
    form = site.get("/sign-in")
    answer = site.post(
        "/sign-in",
        data={"csrf_token": csrf_of(form.text), "role": "borrower", "subject": "borrower-1"},
        follow_redirects=False,
    )
    assert (answer.status_code, answer.headers["location"]) == (303, "/lines")
    cookie = next(
        c for c in answer.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE + "=")
    )
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "max-age"} <= attributes
    assert "samesite=lax" in cookie.lower()
    assert "max-age=1800" in cookie.lower()
    # The same JWT the API takes.
    token = site.cookies[SESSION_COOKIE].strip('"').partition(".")[2]
    lines = site.get("/v1/lines", headers={"Authorization": f"Bearer {token}"})
    assert lines.status_code == 200, lines.text
    assert site.get("/lines").status_code == 200
    # Thirty minutes later the session is over, whatever the browser still holds.
    assert isinstance(site_container.clock, FixedClock)
    site_container.clock.advance(timedelta(minutes=31))
    expired = site.get("/lines", follow_redirects=False)
    assert expired.status_code == 303
    assert expired.headers["location"] == "/sign-in?next=/lines&expired=1"


def test_a_form_without_its_sessions_csrf_token_is_refused(site: TestClient) -> None:
    token = signed_in(site)
    for posted in ({}, {"csrf_token": "0" * 64}, {"csrf_token": token[:-1] + "x"}):
        answer = site.post("/sign-out", data=posted, follow_redirects=False)
        assert answer.status_code == 403
        assert 'data-code="csrf_refused"' in answer.text
    assert site.get("/lines", follow_redirects=False).status_code == 200  # still signed in
    out = site.post("/sign-out", data={"csrf_token": token}, follow_redirects=False)
    assert (out.status_code, out.headers["location"]) == (303, "/sign-in")
    assert site.get("/lines", follow_redirects=False).status_code == 303


def test_the_sign_in_form_needs_its_own_csrf_token(site: TestClient) -> None:
    site.get("/sign-in")
    answer = site.post(
        "/sign-in", data={"role": "borrower", "subject": "borrower-1"}, follow_redirects=False
    )
    assert answer.status_code == 403
    assert SESSION_COOKIE not in answer.headers.get("set-cookie", "")


def test_sign_in_goes_back_only_to_a_page_of_this_site(site: TestClient) -> None:
    for asked, landed in (("/verify", "/verify"), ("//elsewhere.example/x", "/lines")):
        site.cookies.clear()
        form = site.get("/sign-in", params={"next": asked})
        answer = site.post(
            "/sign-in",
            data={
                "csrf_token": csrf_of(form.text),
                "role": "borrower",
                "subject": "b-1",
                "next": asked,
            },
            follow_redirects=False,
        )
        assert answer.headers["location"] == landed


def test_staff_land_on_their_own_page(site: TestClient) -> None:
    signed_in(site, role="agent", subject="ops-1")
    page = site.get("/staff")
    assert page.status_code == 200
    assert "ops-1" in page.text


def test_outside_development_the_picker_is_refused_and_the_sign_on_token_is_used(
    site: TestClient, site_container: Container
) -> None:
    production = dataclasses.replace(
        site_container,
        settings=Settings(
            database_url=site_container.settings.database_url,
            environment="production",
            jwt_keys={DEFAULT_KEY_ID: PRODUCTION_KEY},
            verifier="example_lender.verifiers:connect",  # named, never loaded here
            contacts_file=TEST_CONTACTS,
        ),
    )
    site.app.state.container = production  # type: ignore[attr-defined]
    page = site.get("/sign-in")
    assert 'name="role"' not in page.text
    assert "Authorization: Bearer" in page.text
    refused = site.post(
        "/sign-in",
        data={"csrf_token": "x", "role": "admin", "subject": "x"},
        follow_redirects=False,
    )
    assert refused.status_code == 403
    assert SESSION_COOKIE not in refused.headers.get("set-cookie", "")
    token = issue_token(
        SigningKey(DEFAULT_KEY_ID, PRODUCTION_KEY),
        Role.BORROWER,
        "borrower-1",
        site_container.clock.now(),
    )
    bearer = {"Authorization": f"Bearer {token}"}
    lines = site.get("/lines", headers=bearer)
    assert lines.status_code == 200
    assert "/sign-out" not in lines.text  # the sign-on signs out, not this site
    verify = site.get("/verify", headers=bearer)
    posted = site.post(
        "/inbox/nothing/read",
        data={"csrf_token": csrf_of(verify.text), "key": "k-1"},
        headers=bearer,
        follow_redirects=False,
    )
    assert posted.status_code == 404  # past the CSRF check: there is no such notice
    assert 'data-code="notice_not_found"' in posted.text


def a_line(container: Container, borrower: str = "borrower-1") -> str:
    agent = Actor("ops-1", Role.AGENT)
    opened = container.ledger.open_line(agent, f"open-{borrower}", borrower, "CNY", "5000.00")
    return str(opened.document["id"])


def test_a_refusal_is_a_friendly_message_in_the_pages_language(
    site: TestClient, site_container: Container
) -> None:
    line_id = a_line(site_container)
    signed_in(site)
    asked = {"amount": "5,000", "term_months": "3"}
    chinese = site.get(f"/lines/{line_id}/quote", params=asked)
    assert chinese.status_code == 422
    assert "请输入正确的金额,例如 5000.00。" in chinese.text
    assert 'aria-invalid="true"' in chinese.text  # the form again, the field marked
    english = site.get(f"/lines/{line_id}/quote", params=asked | {"lang": "en"})
    assert '<html lang="en">' in english.text
    assert "Please enter the amount as a plain number, such as 5000.00." in english.text
    # The choice is remembered on the next page.
    assert '<html lang="en">' in site.get("/lines").text


def test_a_borrower_sees_only_their_own_lines(site: TestClient, site_container: Container) -> None:
    someone_elses = a_line(site_container, "borrower-2")
    signed_in(site)
    page = site.get(f"/lines/{someone_elses}/why")
    assert page.status_code == 404
    assert "未找到该额度。" in page.text


def test_a_confirmation_sent_twice_makes_one_loan(
    site: TestClient, site_container: Container
) -> None:
    line_id = a_line(site_container)
    signed_in(site)
    quote = site.get(f"/lines/{line_id}/quote", params={"amount": "1000", "term_months": "3"})
    assert quote.status_code == 200
    assert quote.text.index('class="apr"') < quote.text.index("<dl")  # the APR comes first
    form = dict(
        re.findall(r'name="(csrf_token|key|amount|term_months)" value="([^"]*)"', quote.text)
    )
    first = site.post(f"/lines/{line_id}/draw", data=form, follow_redirects=False)
    again = site.post(f"/lines/{line_id}/draw", data=form, follow_redirects=False)
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"]
    borrower = Actor("borrower-1", Role.BORROWER)
    assert len(site_container.loans.line_loans(borrower, line_id)["loans"]) == 1


def test_a_line_held_for_an_identity_check_comes_back_when_the_borrower_passes_it(
    site: TestClient, site_container: Container
) -> None:
    line_id = a_line(site_container)
    agent = Actor("agent-1", Role.AGENT)
    site_container.ledger.change_limit(agent, "hold", line_id, "suspend", ["fraud_suspected"])
    csrf = signed_in(site)
    # The step on the borrower's lines leads to the identity form.
    assert 'href="/verify/identity"' in site.get("/lines").text
    form = site.get("/verify/identity").text
    refused = site.post(
        "/verify/identity",
        data={
            "csrf_token": csrf,
            "key": _field(form, "key"),
            "document_type": "driving_licence",
            "document_number": "110101199005010011",
            "full_name": "李伟",
        },
    )
    assert 'data-verification="rejected"' in refused.text
    assert "证件须为居民身份证或护照" in refused.text
    assert site_container.ledger.get_line(agent, line_id)["status"] == "suspended"
    accepted = site.post(
        "/verify/identity",
        data={
            "csrf_token": csrf,
            "key": _field(refused.text, "key"),
            "document_type": "id_card",
            "document_number": "110101199005010011",
            "full_name": "李伟",
            "line_id": line_id,
        },
    )
    assert 'data-verification="accepted"' in accepted.text
    assert site_container.ledger.get_line(agent, line_id)["status"] == "active"


def _field(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found is not None, html
    return found.group(1)
