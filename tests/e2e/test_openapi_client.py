"""A client generated from the OpenAPI document builds and talks to the API.

`openapi-python-client` is installed into a throwaway virtual environment in the test's temporary
directory (it pins httpx and typer versions of its own, so it stays out of the project's). The
generated package needs only httpx, attrs and python-dateutil, which the project's environment
has: it is imported here and driven through the test's client, so its requests go through the
app's real routing, token checks and documents."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import venv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import headers
from fastapi.testclient import TestClient

from creditline.bootstrap import Container
from creditline.kernel.permissions import Role

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("openapi-client")]

GENERATOR = "openapi-python-client>=0.29"


@pytest.fixture
def generated(client: TestClient, tmp_path: Path) -> Iterator[Any]:
    """The package generated from the app's document, imported."""
    document = tmp_path / "openapi.json"
    document.write_text(json.dumps(client.get("/openapi.json").json()))
    # No formatting hooks: the generator's default runs ruff, which its environment lacks.
    config = tmp_path / "generator.yaml"
    config.write_text("post_hooks: []\n")
    tools = tmp_path / "tools"
    venv.create(tools, with_pip=True)
    run([str(tools / "bin" / "python"), "-m", "pip", "install", "--quiet", GENERATOR])
    output = run(
        [
            str(tools / "bin" / "openapi-python-client"),
            "generate",
            "--path",
            str(document),
            "--config",
            str(config),
            "--output-path",
            str(tmp_path / "generated"),
            "--meta",
            "none",
        ]
    )
    # Every schema and response became typed code: the generator warns of any it had to drop.
    assert "Warning" not in output, output
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module("generated")
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m == "generated" or m.startswith("generated.")]:
            del sys.modules[name]


def run(command: list[str]) -> str:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_generated_client_opens_a_line_and_reads_it(
    generated: Any, client: TestClient, container: Container
) -> None:
    # Each resource is a module of typed calls, named after the route.
    api = Path(generated.__file__).parent / "api"
    assert {p.name for p in api.iterdir() if p.is_dir()} >= {"lines", "drawdowns", "loans"}
    models = importlib.import_module("generated.models")
    open_line = importlib.import_module("generated.api.lines.open_line")
    get_line = importlib.import_module("generated.api.lines.get_line")

    # The generated client sends its requests through the app (the test's client is an
    # httpx client); the agent's bearer token rides on it.
    typed = generated.AuthenticatedClient(base_url=str(client.base_url), token="unused")
    typed.set_httpx_client(client)
    agent = headers(container, Role.AGENT, "agent-1")
    client.headers["Authorization"] = agent["Authorization"]

    opened = open_line.sync_detailed(
        client=typed,
        body=models.OpenLine(borrower_id="b-1", currency="CNY", limit="20000.00"),
        idempotency_key=agent["Idempotency-Key"],
    )
    assert opened.status_code == 201, opened.content
    line = opened.parsed
    assert isinstance(line, models.Line)
    assert (line.borrower_id, line.limit, line.available) == ("b-1", "20000.00", "20000.00")

    read = get_line.sync(line.id, client=typed)
    assert isinstance(read, models.Line)
    assert read.to_dict() == line.to_dict()

    missing = get_line.sync_detailed("no-such-line", client=typed)
    assert missing.status_code == 404
    assert isinstance(missing.parsed, models.Problem)
    assert missing.parsed.code == "line_not_found"

    refused = open_line.sync_detailed(
        client=typed,
        body=models.OpenLine(borrower_id="b-2", currency="CNY", limit="0.00"),
        idempotency_key=agent["Idempotency-Key"] + "-zero",
    )
    assert refused.status_code == 422
    assert refused.parsed.code == "limit_below_minimum"
