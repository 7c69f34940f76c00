"""A route's document is encoded once, to the bytes FastAPI's own path sends: the same status,
headers and body as the route unwrapped, and the same operation in the OpenAPI document."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient

from creditline.api.replies import answered_as_json, json_bytes

DOCUMENT: dict[str, Any] = {
    "id": "h-1",
    "amount": "1.00",
    "price": {"apr_percent": "12.68", "schedule": [{"number": 1, "due": "2027-01-07"}]},
    "note": '额度 restored "now"\n',
    "posted": None,
    "replayable": True,
}


def hold(line_id: str, response: Response, replayed: bool = False) -> dict[str, Any]:
    """A command: its status and replay header set on the `Response` parameter."""
    response.status_code = 200 if replayed else 201
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return {**DOCUMENT, "line_id": line_id}


def line(line_id: str) -> dict[str, Any]:
    """A read."""
    return {**DOCUMENT, "line_id": line_id}


async def lines() -> list[dict[str, Any]]:
    """An async route."""
    return [DOCUMENT, DOCUMENT]


def chart() -> Response:
    """A route that answers a response of its own."""
    return Response(b"<svg/>", media_type="image/svg+xml")


ROUTES = (
    ("/lines/{line_id}/holds", hold, "POST", 201),
    ("/lines/{line_id}", line, "GET", None),
    ("/lines", lines, "GET", None),
    ("/chart", chart, "GET", None),
)


@pytest.fixture(scope="module")
def app() -> FastAPI:
    """Each route twice: as FastAPI answers it (`/plain`), and encoded once (`/once`)."""
    app = FastAPI()
    for path, endpoint, method, status in ROUTES:
        for prefix, call in (("/plain", endpoint), ("/once", answered_as_json(endpoint, status))):
            app.add_api_route(
                prefix + path,
                call,
                methods=[method],
                status_code=status,
                response_model=None,
                name=f"{prefix[1:]}_{endpoint.__name__}",
            )
    return app


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/lines/l-1/holds"),
        ("POST", "/lines/l-1/holds?replayed=true"),
        ("GET", "/lines/l-2"),
        ("GET", "/lines"),
        ("GET", "/chart"),
    ],
)
def test_the_answer_is_the_one_fastapi_sends(app: FastAPI, method: str, path: str) -> None:
    client = TestClient(app)
    plain, once = client.request(method, "/plain" + path), client.request(method, "/once" + path)
    assert once.status_code == plain.status_code
    assert once.content == plain.content
    assert once.headers.items() == plain.headers.items()


def test_the_replay_keeps_its_status_and_header(app: FastAPI) -> None:
    client = TestClient(app)
    first = client.post("/once/lines/l-1/holds")
    again = client.post("/once/lines/l-1/holds", params={"replayed": "true"})
    assert (first.status_code, first.headers.get("idempotent-replayed")) == (201, None)
    assert (again.status_code, again.headers["idempotent-replayed"]) == (200, "true")
    assert again.json() == {**DOCUMENT, "line_id": "l-1"}


def test_the_operations_are_documented_as_before(app: FastAPI) -> None:
    paths = app.openapi()["paths"]
    for path, endpoint, method, _ in ROUTES:
        plain = dict(paths["/plain" + path][method.lower()])
        once = dict(paths["/once" + path][method.lower()])
        for operation in (plain, once):
            del operation["operationId"]
            operation.pop("summary")
        assert once == plain, endpoint.__name__


def test_the_bytes_are_starlettes_json() -> None:
    assert json_bytes(DOCUMENT) == JSONResponse(DOCUMENT).body
    with pytest.raises(ValueError, match="Out of range float values"):
        json_bytes({"rate": float("nan")})
