"""The borrower_requests table's statements: a borrower's request recorded, locked, done."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import bindparam, insert, select, update

from creditline.db.unit_of_work import Database, Transaction
from creditline.kernel.ids import is_id
from creditline.ledger.limit_rules import BorrowerRequest, RequestKind, RequestStatus
from creditline.ledger.tables import borrower_requests

_COLUMNS = (
    borrower_requests.c.id,
    borrower_requests.c.line_id,
    borrower_requests.c.borrower_id,
    borrower_requests.c.kind,
    borrower_requests.c.limit_minor,
    borrower_requests.c.status,
    borrower_requests.c.decision_id,
    borrower_requests.c.created_at,
    borrower_requests.c.done_at,
)


class RequestStore:
    """Prepared statements for one database; methods take the transaction to run in."""

    def __init__(self, db: Database) -> None:
        p = db.prepare
        self._insert = p(
            insert(borrower_requests).values(
                {c.name: bindparam(c.name) for c in borrower_requests.c}
            )
        )
        self._locked = p(
            select(*_COLUMNS).where(borrower_requests.c.id == bindparam("id")).with_for_update()
        )
        self._done = p(
            update(borrower_requests)
            .where(
                borrower_requests.c.id == bindparam("id"),
                borrower_requests.c.status == RequestStatus.OPEN.value,
            )
            .values(
                status=RequestStatus.DONE.value,
                decision_id=bindparam("decision_id"),
                done_at=bindparam("now"),
            )
        )

    def insert(self, tx: Transaction, request: BorrowerRequest) -> None:
        """Record a borrower's open request."""
        tx.execute(
            self._insert,
            {
                "id": request.id,
                "line_id": request.line_id,
                "borrower_id": request.borrower_id,
                "kind": request.kind.value,
                "limit_minor": request.limit_minor,
                "status": request.status.value,
                "decision_id": request.decision_id,
                "created_at": tx.time(request.created_at),
                "done_at": tx.time(request.done_at),
            },
        )

    def lock(self, tx: Transaction, request_id: str) -> BorrowerRequest | None:
        """The request, its row locked (None for an unknown id)."""
        if not is_id(request_id):
            return None
        row = tx.one(self._locked, {"id": request_id})
        return None if row is None else _request(row)

    def mark_done(self, tx: Transaction, request_id: str, decision_id: str, now: datetime) -> None:
        """Mark an open request done by `decision_id` (it is locked and open: one row)."""
        tx.expect_one(
            f"borrower request {request_id} changed under its lock",
            self._done,
            {"id": request_id, "decision_id": decision_id, "now": tx.time(now)},
        )


def _request(row: tuple[Any, ...]) -> BorrowerRequest:
    return BorrowerRequest(
        id=row[0],
        line_id=row[1],
        borrower_id=row[2],
        kind=RequestKind(row[3]),
        limit_minor=row[4],
        status=RequestStatus(row[5]),
        decision_id=row[6],
        created_at=cast(datetime, Transaction.read_time(row[7])),
        done_at=Transaction.read_time(row[8]),
    )
