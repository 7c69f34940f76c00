"""The borrower_requests table's statements: a borrower's request recorded, locked, done or
withdrawn, and listed (a line's, and the staff queue by status) oldest first, a page at a time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import and_, bindparam, insert, or_, select, update

from creditline.db.unit_of_work import Database, Prepared, Transaction
from creditline.kernel.ids import is_id
from creditline.ledger.limit_rules import BorrowerRequest, RequestKind, RequestStatus
from creditline.ledger.tables import borrower_requests, lines

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
    borrower_requests.c.due_at,
    borrower_requests.c.withdrawn_at,
)
# Before every request: a page that starts after nothing starts at the first.
_BEGINNING = datetime(1970, 1, 1, tzinfo=UTC)


class RequestStore:
    """Prepared statements for one database; methods take the transaction to run in."""

    def __init__(self, db: Database) -> None:
        p = db.prepare
        c = borrower_requests.c
        self._insert = p(
            insert(borrower_requests).values(
                {column.name: bindparam(column.name) for column in borrower_requests.c}
            )
        )
        self._read = p(select(*_COLUMNS).where(c.id == bindparam("id")))
        self._locked = p(select(*_COLUMNS).where(c.id == bindparam("id")).with_for_update())
        self._open_of_line = p(
            select(c.id).where(c.line_id == bindparam("line_id"), c.status == "open")
        )
        self._done = p(
            update(borrower_requests)
            .where(c.id == bindparam("id"), c.status == RequestStatus.OPEN.value)
            .values(
                status=RequestStatus.DONE.value,
                decision_id=bindparam("decision_id"),
                done_at=bindparam("now"),
            )
        )
        self._withdrawn = p(
            update(borrower_requests)
            .where(c.id == bindparam("id"), c.status == RequestStatus.OPEN.value)
            .values(status=RequestStatus.WITHDRAWN.value, withdrawn_at=bindparam("now"))
        )
        # Keyset pages, oldest first: after the (created_at, id) of the page's last request.
        after = or_(
            c.created_at > bindparam("after_at"),
            and_(c.created_at == bindparam("after_at"), c.id > bindparam("after_id")),
        )
        page = (
            select(*_COLUMNS, lines.c.currency)
            .select_from(borrower_requests.join(lines, lines.c.id == c.line_id))
            .order_by(c.created_at, c.id)
            .limit(bindparam("limit"))
        )
        self._of_line = p(page.where(c.line_id == bindparam("line_id"), after))
        self._of_status = p(page.where(c.status == bindparam("status"), after))

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
                "due_at": tx.time(request.due_at),
                "withdrawn_at": tx.time(request.withdrawn_at),
            },
        )

    def get(self, tx: Transaction, request_id: str) -> BorrowerRequest | None:
        """The request, unlocked (None for an unknown id)."""
        if not is_id(request_id):
            return None
        row = tx.one(self._read, {"id": request_id})
        return None if row is None else _request(row)

    def lock(self, tx: Transaction, request_id: str) -> BorrowerRequest | None:
        """The request, its row locked (None for an unknown id)."""
        if not is_id(request_id):
            return None
        row = tx.one(self._locked, {"id": request_id})
        return None if row is None else _request(row)

    def open_of_line(self, tx: Transaction, line_id: str) -> str | None:
        """The id of the line's open request, if it has one."""
        row = tx.one(self._open_of_line, {"line_id": line_id})
        return None if row is None else str(row[0])

    def mark_done(self, tx: Transaction, request_id: str, decision_id: str, now: datetime) -> None:
        """Mark an open request done by `decision_id` (it is locked and open: one row)."""
        tx.expect_one(
            f"borrower request {request_id} changed under its lock",
            self._done,
            {"id": request_id, "decision_id": decision_id, "now": tx.time(now)},
        )

    def mark_withdrawn(self, tx: Transaction, request_id: str, now: datetime) -> None:
        """Mark an open request withdrawn (it is locked and open: one row)."""
        tx.expect_one(
            f"borrower request {request_id} changed under its lock",
            self._withdrawn,
            {"id": request_id, "now": tx.time(now)},
        )

    def of_line(
        self, tx: Transaction, line_id: str, after: BorrowerRequest | None, limit: int
    ) -> list[tuple[BorrowerRequest, str]]:
        """The line's requests after `after`, oldest first, at most `limit`, each with the
        line's currency."""
        return self._page(tx, self._of_line, {"line_id": line_id}, after, limit)

    def of_status(
        self, tx: Transaction, status: RequestStatus, after: BorrowerRequest | None, limit: int
    ) -> list[tuple[BorrowerRequest, str]]:
        """The requests in `status` after `after`, oldest first, at most `limit`, each with its
        line's currency."""
        return self._page(tx, self._of_status, {"status": status.value}, after, limit)

    @staticmethod
    def _page(
        tx: Transaction,
        statement: Prepared,
        params: dict[str, Any],
        after: BorrowerRequest | None,
        limit: int,
    ) -> list[tuple[BorrowerRequest, str]]:
        params |= {
            "after_at": tx.time(_BEGINNING if after is None else after.created_at),
            "after_id": "" if after is None else after.id,
            "limit": limit,
        }
        tx.cursor.execute(statement.sql, statement.bind(params))
        return [(_request(tuple(row[:-1])), str(row[-1])) for row in tx.cursor.fetchall()]


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
        due_at=cast(datetime, Transaction.read_time(row[9])),
        withdrawn_at=Transaction.read_time(row[10]),
    )
