"""Model monitoring (docs/decisions/0021): the active scorecard's population stability this
month against its development sample, and its AUC, KS and calibration on the lines it scored
a year before that have matured; an `event.model_drift` webhook event when a PSI goes above
0.25, once per drift episode, and `event.model_drift_ended` when it is back within."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from creditline.db.unit_of_work import Database
from creditline.kernel.actors import Actor
from creditline.kernel.clock import Clock
from creditline.kernel.permissions import Permission, require
from creditline.notices.outbox import Outbox, Topic, latest_topic
from creditline.portfolio import model
from creditline.portfolio.model_metrics import (
    PSI_ALERT_ABOVE,
    Calibration,
    auc,
    calibration,
    ks,
    psi,
    shares,
)
from creditline.portfolio.reads import Reader, Shared

OUTCOME_DAYS = 365
_DRIFT_NAMESPACE = uuid.UUID("6f1d3c1e-3b8e-4c55-9a62-0c1f5d6a0021")


@dataclass(frozen=True, slots=True)
class MonitoredModel:
    """The active scorecard as monitoring needs it: its label (id@version), scaling, and
    development shares by score band and by attribute (in the card's order)."""

    label: str
    currency: str
    scaling: tuple[int, Decimal, Decimal]
    score_bands: list[tuple[int | None, int | None, float]]
    attributes: list[tuple[str, list[float], float]]  # feature, bin shares, missing share


@dataclass(slots=True)
class ModelReport:
    """The figures of `creditline report model` and `GET /v1/reports/model`."""

    model: str
    as_of: dt.date
    period: str  # YYYY-MM: the month whose decisions the PSI measures
    scored: int
    score_psi: float | None
    attribute_psi: dict[str, float | None]
    matured_lines: int
    matured_bads: int
    auc: float | None
    ks: float | None
    calibration: list[Calibration] = field(default_factory=list)

    @property
    def drifted(self) -> list[str]:
        """What drifted beyond `PSI_ALERT_ABOVE`: `score` and attribute names."""
        named = {"score": self.score_psi, **self.attribute_psi}
        return [
            name for name, value in named.items() if value is not None and value > PSI_ALERT_ABOVE
        ]

    def document(self) -> dict[str, Any]:
        """The report as JSON data."""
        out = asdict(self)
        out["as_of"] = self.as_of.isoformat()
        out["psi_alert_above"] = PSI_ALERT_ABOVE
        out["drifted"] = self.drifted
        return out


class ModelMonitor:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        outbox: Outbox,
        monitored: Callable[[], MonitoredModel | None],
        end_of: Callable[[dt.date, str], dt.datetime],
    ) -> None:
        self._db = db
        self._clock = clock
        self._outbox = outbox
        self._monitored = monitored
        self._end_of = end_of  # the instant a business date ends, in a currency's profile

    def report(self, actor: Actor, as_of: dt.date) -> ModelReport | None:
        """The active scorecard's figures at the end of `as_of` (None: no fitted scorecard
        with development shares is active)."""
        require(actor, Permission.READ_PORTFOLIO)
        card = self._monitored()
        if card is None:
            return None
        return self._db.read(lambda tx: self.compose(tx.connection, card, as_of))

    def alert(self, actor: Actor, as_of: dt.date) -> ModelReport | None:
        """The report, and `event.model_drift` when a PSI is above the threshold and the
        model was not already drifting (once per drift episode, however often it is checked);
        `event.model_drift_ended` at the first check back within it."""
        report = self.report(actor, as_of)
        if report is not None:
            self._announce_episode(report)
        return report

    def check(self, actor: Actor) -> dict[str, str | None]:
        """The check `serve` runs in the background: today's report and its drift events."""
        report = self.report(actor, self._clock.now().date())
        return {"model_drift": None if report is None else self._announce_episode(report)}

    def _announce_episode(self, report: ModelReport) -> str | None:
        """Queue the event that starts or ends a drift episode, if this report does; its
        topic."""
        ref = str(uuid.uuid5(_DRIFT_NAMESPACE, report.model))
        episode = [Topic.MODEL_DRIFT.value, Topic.MODEL_DRIFT_ENDED.value]
        now = self._clock.now()

        def work(tx: Any) -> str | None:
            tx.lock_key(f"model-drift:{report.model}")
            drifting = latest_topic(tx.connection, ref, episode) == Topic.MODEL_DRIFT.value
            if bool(report.drifted) == drifting:
                return None
            topic = Topic.MODEL_DRIFT if report.drifted else Topic.MODEL_DRIFT_ENDED
            payload = {k: v for k, v in report.document().items() if k != "calibration"}
            self._outbox.queue(
                tx, topic, line_id=ref, borrower_id="", ref_id=ref, payload=payload, now=now
            )
            return topic.value

        result: str | None = self._db.run(work, core=True)
        return result

    def compose(self, reader: Reader, card: MonitoredModel, as_of: dt.date) -> ModelReport:
        """Every figure, a few set-based queries on `reader`."""
        cutoff = self._end_of(as_of, card.currency)
        since = self._end_of(as_of.replace(day=1) - dt.timedelta(days=1), card.currency)
        sample = model.scored_in(card.label, since, cutoff)
        counts = model.score_counts(reader, sample, [(lo, up) for lo, up, _ in card.score_bands])
        scored = sum(counts)
        attribute_psi: dict[str, float | None] = {}
        for position, (feature, expected, missing) in enumerate(card.attributes):
            found, found_missing = model.bin_counts(reader, sample, position, len(expected))
            actual = shares([*found, found_missing])
            attribute_psi[feature] = psi([*expected, missing], actual) if scored else None
        observed_on = as_of - dt.timedelta(days=OUTCOME_DAYS)
        by_grade = model.matured_histograms(
            Shared(reader),
            self._end_of(observed_on, card.currency),
            observed_on,
            as_of,
            card.currency,
        )
        histogram: dict[int, tuple[int, int]] = {}
        for grade in by_grade.values():
            for score, (goods, bads) in grade.items():
                g, b = histogram.get(score, (0, 0))
                histogram[score] = (g + goods, b + bads)
        return ModelReport(
            model=card.label,
            as_of=as_of,
            period=f"{as_of:%Y-%m}",
            scored=scored,
            score_psi=psi([s for _, _, s in card.score_bands], shares(counts)) if scored else None,
            attribute_psi=attribute_psi,
            matured_lines=sum(g + b for g, b in histogram.values()),
            matured_bads=sum(b for _, b in histogram.values()),
            auc=auc(histogram),
            ks=ks(histogram),
            calibration=calibration(dict(sorted(by_grade.items())), card.scaling),
        )
