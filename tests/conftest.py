"""Fixtures shared by the whole suite.

Storage tests run on both stores: SQLite (a copy of a migrated template file per test) and
PostgreSQL (one database per test worker, emptied after each test). PostgreSQL must be there:
when it is not, these tests fail loudly rather than skip.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from creditline.api.app import create_app
from creditline.api.auth import issue_token
from creditline.bootstrap import Container, build
from creditline.config import Settings, shipped_policy_file
from creditline.db.engine import make_engine, normalise_url
from creditline.db.metadata import metadata
from creditline.db.migrate import upgrade
from creditline.kernel.actors import Actor, Role
from creditline.kernel.clock import FixedClock
from creditline.kernel.ids import new_id

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

POSTGRES_URL = os.environ.get(
    "CREDITLINE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
STORES = ("sqlite", "postgresql")
START = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
# Interest-free default products keep the ledger's tests about the ledger; see the file.
TEST_PRODUCTS = Path(__file__).parent / "fixtures" / "products.toml"
EXAMPLE_POLICY = shipped_policy_file()
# Who notices name, for the test catalogue's profiles and the shipped one's.
TEST_CONTACTS = Path(__file__).parent / "fixtures" / "contacts.toml"
# Servers and commands the tests start in other processes read the same catalogue.
os.environ["CREDITLINE_PRODUCTS_FILE"] = str(TEST_PRODUCTS)
os.environ["CREDITLINE_POLICY_FILE"] = str(EXAMPLE_POLICY)
os.environ["CREDITLINE_REVIEW_TRIGGERS"] = "off"
REPO = Path(__file__).parents[1]
NOTHING_DUE = {  # what a run of the reminders queues when none is due
    "freeze_ending_soon": 0,
    "verification_due": 0,
    "review_overdue": 0,
    "payment_due_soon": 0,
    "payment_due_today": 0,
    "payment_missed": 0,
    "monthly_statement": 0,
}

Run = Callable[..., subprocess.CompletedProcess[str]]
# Spark in the tests: local, on loopback only, two cores, few partitions, no web UI.
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
SPARK_TEST_CONFIG = {
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
}


@pytest.fixture
def creditline() -> Run:
    """Runs the `creditline` command as a user does, from the repository's root:
    `creditline("fit", "--data", ..., database_url=...)`."""

    def run(*args: str, database_url: str | None = None) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ)
        if database_url is not None:
            env["CREDITLINE_DATABASE_URL"] = database_url
        return subprocess.run(
            [sys.executable, "-m", "creditline.cli.main", *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            cwd=REPO,
            env=env,
        )

    return run


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    """One local Spark session for every test that asks (it takes seconds to start); mark
    such a module `xdist_group("spark")` so that one worker runs them all. PySpark and Java
    must be there: without them these tests fail loudly rather than skip."""
    from creditline.decisions.spark import session

    started = session("local[2]", SPARK_TEST_CONFIG)
    yield started
    started.stop()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()  # closing the last connection checkpoints the WAL into the file
    return path


@pytest.fixture(scope="session")
def postgres_url(worker_id: str) -> Iterator[str]:
    """A migrated database of this worker's own, beside the configured one."""
    admin_url = make_url(normalise_url(POSTGRES_URL))
    # The pid keeps two suites on one server (two checkouts, CI and a developer) apart.
    name = f"{admin_url.database}_{worker_id}_{os.getpid()}".replace("-", "_")
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        pytest.fail(f"PostgreSQL is required at {POSTGRES_URL}: {exc}", pytrace=False)
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _empty_postgres(url: str) -> None:
    engine = create_engine(normalise_url(url))
    names = ", ".join(table.name for table in metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {names}"))
    engine.dispose()


@pytest.fixture(params=STORES)
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> Iterator[str]:
    """An empty, migrated database on each store in turn."""
    if request.param == "sqlite":
        path = tmp_path / "creditline.db"
        shutil.copy(sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    url = request.getfixturevalue("postgres_url")
    _empty_postgres(url)
    yield url
    _empty_postgres(url)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


def suite_settings(database_url: str) -> Settings:
    """The suite's settings on `database_url`: the test catalogue, the example policy, the
    test contacts, and no review triggers (the ledger's tests draw many loans fast: the
    velocity rules would freeze their lines; tests of the triggers turn them on)."""
    return Settings(
        database_url=database_url,
        products_file=TEST_PRODUCTS,
        policy_file=EXAMPLE_POLICY,
        review_triggers=False,
        contacts_file=TEST_CONTACTS,
    )


@pytest.fixture
def container(database_url: str, clock: FixedClock) -> Iterator[Container]:
    built = build(suite_settings(database_url), clock, migrate=False)
    yield built
    built.close()


def with_test_cn_setting(
    database_url: str, clock: FixedClock, tmp_path: Path, setting: str
) -> Container:
    """The suite's container, its TEST-CN profile given one more `setting` (a TOML line)."""
    products = tmp_path / "products-with-setting.toml"
    products.write_text(
        TEST_PRODUCTS.read_text().replace(
            "[profiles.TEST-CN]\n", f"[profiles.TEST-CN]\n{setting}\n"
        )
    )
    settings = Settings(
        database_url=database_url,
        products_file=products,
        policy_file=EXAMPLE_POLICY,
        review_triggers=False,
        contacts_file=TEST_CONTACTS,
    )
    return build(settings, clock, migrate=False)


@pytest.fixture
def roomy(database_url: str, clock: FixedClock, tmp_path: Path) -> Iterator[Container]:
    """The suite's container with a profile that lets applications open ten lines per
    borrower (the default is one): for stories of many applications."""
    built = with_test_cn_setting(database_url, clock, tmp_path, "lines_per_borrower_max = 10")
    yield built
    built.close()


@pytest.fixture
def agent() -> Actor:
    return Actor("agent-1", Role.AGENT)


@pytest.fixture
def approver() -> Actor:
    return Actor("approver-1", Role.APPROVER)


@pytest.fixture
def borrower() -> Actor:
    return Actor("borrower-1", Role.BORROWER)


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    """The API over the test's container, answering errors as problem documents."""
    with TestClient(create_app(container), raise_server_exceptions=False) as built:
        yield built


def headers(container: Container, role: Role, subject: str) -> dict[str, str]:
    """A bearer token for `subject` in `role`, and a fresh idempotency key."""
    token = issue_token(container.settings.jwt_signing_key, role, subject, container.clock.now())
    return {"Authorization": f"Bearer {token}", "Idempotency-Key": new_id()}


def frozen_by_the_policy(c: Container, agent: Actor, borrower: Actor) -> str:
    """Five drawdowns of CNY 100.00 in a day: the policy freezes the line for a week (the
    suite's containers have the review triggers off: the review is asked for here)."""
    line_id = str(
        c.ledger.open_line(agent, "open", borrower.subject, "CNY", "20000.00").document["id"]
    )
    for n in range(5):
        hold = c.ledger.place_hold(borrower, f"h{n}", line_id, "100.00", 12).document
        c.loans.post_drawdown(borrower, f"p{n}", hold["id"])
    assert c.decisions.review_line(line_id).decision.action == "freeze"
    return line_id


# A rule cutting lines used over half their limit by half (policy versions in the tests).
HIGH_USE = {
    "id": "high-use",
    "when": "utilisation > 0.5",
    "action": "decrease",
    "limit_factor": "0.5",
    "reason": "utilisation_high",
    "priority": 60,
}


def with_rule(
    path: Path, version: str, rule: dict[str, Any], share_max: str | None
) -> dict[str, Any]:
    """The policy at `path` as `version`, with one more rule (and its guardrail, when given)."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    document["version"] = version
    document["rules"].append(rule)
    if share_max is not None:
        document["guardrails"] = {"adverse_share_max": share_max}
    return dict(document)


# The outcome of each phase of a test, for fixtures that keep evidence of a failure (the
# browser tests' screenshots).
PHASE_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Iterator[pytest.TestReport]:
    report: pytest.TestReport = yield
    item.stash.setdefault(PHASE_REPORTS, {})[report.when] = report
    return report


def failed_so_far(request: pytest.FixtureRequest) -> bool:
    """Whether the requesting test has failed so far (for a fixture's teardown)."""
    reports = request.node.stash.get(PHASE_REPORTS, {})
    return any(report.failed for report in reports.values())


def metric(scraped: str, name: str, **labels: str) -> float:
    """One sample's value from Prometheus's text format (0 when it is not there)."""
    wanted = ",".join(f'{key}="{value}"' for key, value in labels.items())
    pattern = rf"^{re.escape(name)}{re.escape('{' + wanted + '}') if wanted else ''} (\S+)$"
    found = re.search(pattern, scraped, re.M)
    return float(found.group(1)) if found else 0.0
