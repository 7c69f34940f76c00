"""Model monitoring on the store: PSI of the score and of an attribute over the month's
applications, worked by hand, and the drift event sent above 0.25, once per drift episode,
and not below it (on SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses
import math

import pytest
from sqlalchemy import select

from creditline.bootstrap import Container
from creditline.decisions.applications import Application
from creditline.kernel.actors import Actor, Role
from creditline.notices.tables import outbox
from creditline.portfolio.monitoring import ModelMonitor, MonitoredModel
from creditline.portfolio.service import end_of

ANALYST = Actor("analyst-1", Role.ANALYST)
FLOOR = 0.0001


def _apply(container: Container, borrower: str, employment: str) -> None:
    import datetime as dt

    application = Application(
        borrower_id=borrower,
        currency="CNY",
        income_monthly="12000.00",
        income_evidence=True,
        income_evidence_expires_on=dt.date(2027, 6, 30),
        birth_date=dt.date(1990, 5, 1),
        employment=employment,
    )
    container.underwriting.apply(Actor(borrower, Role.BORROWER), f"app-{borrower}", application)


def _monitor(container: Container, card: MonitoredModel) -> ModelMonitor:
    catalogue = container.catalogue
    return ModelMonitor(
        container.db,
        container.clock,
        container.outbox,
        lambda: card,
        lambda day, currency: end_of(day, catalogue.profile_for(currency)),
    )


def _card(container: Container, employment: list[float]) -> MonitoredModel:
    policy = container.decisions.engine.policy
    card = policy.scorecard
    # An application has no repayment record or bureau report (missing); a new line's use
    # and months on book are 0 (the first bin).
    at_zero = {"utilisation", "months_on_book"}
    attributes = [
        (a.feature, [1.0] + [0.0] * (len(a.bins) - 1), 0.0)
        if a.feature in at_zero
        else (a.feature, [0.0] * len(a.bins), 1.0)
        for a in card.attributes
    ]
    position = [a.feature for a in card.attributes].index("employment")
    attributes[position] = ("employment", employment, 0.0)
    return MonitoredModel(
        label=policy.label,
        currency=policy.currency,
        scaling=(card.base_points, card.pdo, card.base_odds),
        # Every score falls below 10,000: the month's shares are (1, 0) against (½, ½).
        score_bands=[(None, 10_000, 0.5), (10_000, None, 0.5)],
        attributes=attributes,
    )


def _drift_events(container: Container) -> list[str]:
    """The drift episodes' events, oldest first."""
    with container.db.reading() as connection:
        query = (
            select(outbox.c.topic)
            .where(outbox.c.topic.startswith("event.model_drift"))
            .order_by(outbox.c.created_at, outbox.c.id)
        )
        return list(connection.execute(query).scalars())


@pytest.fixture
def scored(container: Container) -> Container:
    _apply(container, "mon-0001", "employed")
    _apply(container, "mon-0002", "student")
    return container


def test_psi_of_the_score_and_of_an_attribute_by_hand(scored: Container) -> None:
    # employment bins [employed], [self_employed, retired], [student, unemployed], missing:
    # developed 0.5, 0.25, 0.25, 0; this month 1 of 2, 0, 1 of 2, 0: PSI
    # (0.0001 − 0.25)·ln(0.0001 / 0.25) + (0.5 − 0.25)·ln 2 = 1.95523 + 0.17329.
    monitor = _monitor(scored, _card(scored, [0.5, 0.25, 0.25]))
    as_of = scored.clock.now().date()
    report = monitor.report(ANALYST, as_of)
    assert report is not None and report.scored == 2
    assert report.score_psi == pytest.approx(
        (1 - 0.5) * math.log(1 / 0.5) + (FLOOR - 0.5) * math.log(FLOOR / 0.5)
    )
    employment = (FLOOR - 0.25) * math.log(FLOOR / 0.25) + (0.5 - 0.25) * math.log(0.5 / 0.25)
    assert report.attribute_psi["employment"] == pytest.approx(employment)
    assert report.attribute_psi["employment"] == pytest.approx(2.1285, abs=1e-4)
    assert report.matured_lines == 0 and report.auc is None  # nothing is a year old yet


def test_the_drift_event_is_sent_once_per_drift_episode(scored: Container) -> None:
    """Drifting (PSI above 0.25) on every check is one episode: one event; back within the
    threshold ends it (one ended event); drifting again starts a second."""
    drifting = _monitor(scored, _card(scored, [0.5, 0.25, 0.25]))
    card = _card(scored, [0.5, 0.0, 0.5])
    steady = _monitor(
        scored, dataclasses.replace(card, score_bands=[(None, 10_000, 1.0), (10_000, None, 0.0)])
    )
    as_of = scored.clock.now().date()
    first = drifting.alert(ANALYST, as_of)
    assert first is not None and set(first.drifted) >= {"score", "employment"}
    drifting.alert(ANALYST, as_of)
    assert drifting.check(ANALYST) == {"model_drift": None}  # serve's tick, still drifting
    assert _drift_events(scored) == ["event.model_drift"]
    assert steady.check(ANALYST) == {"model_drift": "event.model_drift_ended"}
    steady.alert(ANALYST, as_of)
    assert drifting.check(ANALYST) == {"model_drift": "event.model_drift"}
    assert _drift_events(scored) == [
        "event.model_drift",
        "event.model_drift_ended",
        "event.model_drift",
    ]


def test_no_drift_event_below_the_threshold(scored: Container) -> None:
    card = _card(scored, [0.5, 0.0, 0.5])
    # The score's bands as this month spread: PSI 0 everywhere.
    steady = dataclasses.replace(card, score_bands=[(None, 10_000, 1.0), (10_000, None, 0.0)])
    report = _monitor(scored, steady).alert(ANALYST, scored.clock.now().date())
    assert report is not None and report.drifted == []
    assert report.attribute_psi["employment"] == pytest.approx(0)
    assert _drift_events(scored) == []


def test_serve_runs_the_drift_check_hourly_beside_the_sweeper(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi.testclient import TestClient

    from creditline.api import app as served

    jobs: dict[str, tuple[object, float]] = {}

    class Recorded:
        def __init__(self, name: str, work: object, every: float, metrics: object) -> None:
            jobs[name] = (work, every)

        def start(self) -> None: ...

        def stop(self) -> None: ...

    monkeypatch.setattr(served, "Periodic", Recorded)
    with TestClient(served.create_app(container, sweep=True)):
        pass
    assert {"sweep", "model-drift"} <= set(jobs)
    work, every = jobs["model-drift"]
    assert every == 3600.0
    assert work() == {"model_drift": None}  # type: ignore[operator]  # nothing drifts: no event
