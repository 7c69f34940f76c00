"""A borrower's requests about their own line: to close it, or to lower its limit.

The borrower asks (`ask`): the request is recorded with its deadline — the line's profile's
`review_days`, as for a human review — and a notice tells them what they asked, that a person
will act on it by then and that they may withdraw it, in the same transaction. A line has one
open request at a time. Staff grant it with a limit change naming it (`LedgerService.
change_limit` with `request_id`, which locks it through `lock_of_line`): the decision's notice
names the request. While it is open the borrower may withdraw it (`withdraw`); nothing grants a
withdrawn request. Staff work the open ones oldest first (`queue`); a borrower lists their
line's (`of_line`), and staff any line's.

Locks: the line first, then the request, on every path (ask, grant, withdraw), so a grant and
a withdrawal of one request run one after the other and exactly one of them wins.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from creditline.db.commands import CommandResult, Commands
from creditline.db.unit_of_work import Database, Transaction
from creditline.kernel.actors import Actor
from creditline.kernel.clock import Clock
from creditline.kernel.errors import (
    BorrowerRequestMissing,
    BorrowerRequestNotFound,
    InvalidInput,
    LineClosed,
    LineNotFound,
)
from creditline.kernel.ids import new_id
from creditline.kernel.money import Money
from creditline.kernel.permissions import Permission, require
from creditline.ledger.in_transaction import LedgerPort, may_see
from creditline.ledger.limit_rules import (
    BorrowerRequest,
    RequestStatus,
    checked_request,
    require_none_open,
    require_open,
    require_within_policy,
)
from creditline.ledger.model import Line, LineStatus
from creditline.ledger.needs import Limits, Underwriting
from creditline.ledger.store import LedgerStore
from creditline.ledger.views import line_document, listed_request_document, request_document
from creditline.notices.outbox import Topic

REQUESTS_LISTED_MAX = 200


class BorrowerRequests:
    """The use cases of borrowers' requests; each command runs through the command runner."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        commands: Commands,
        store: LedgerStore,
        port: LedgerPort,
        limits: Limits,
        underwriting: Underwriting,
    ) -> None:
        self._db = db
        self._clock = clock
        self._commands = commands
        self._store = store
        self._port = port
        self._limits = limits
        self._underwriting = underwriting

    # --- commands ------------------------------------------------------------------------
    def ask(
        self, actor: Actor, key: str, line_id: str, kind: str, limit: str | None = None
    ) -> CommandResult:
        """A borrower asks to close their line (`close`) or to lower its limit to `limit`
        (`decrease`); never to raise it. One open request per line
        (`borrower_request_already_open`). The borrower is told, in the same transaction,
        what they asked and by when a person acts on it."""
        require(actor, Permission.REQUEST_LINE_CHANGE)
        request = {"op": "borrower_request", "line_id": line_id, "kind": kind, "limit": limit}

        def work(tx: Transaction) -> dict[str, Any]:
            line = self._port.lock(tx, actor, line_id)
            limit_minor = None if limit is None else Money.parse(limit, line.currency).minor
            return request_document(self._record(tx, line, kind, limit_minor), line.currency)

        return self._commands.run(actor, key, request, work, lambda document: document)

    def _record(
        self, tx: Transaction, line: Line, kind: str, limit_minor: int | None
    ) -> BorrowerRequest:
        if line.status is LineStatus.CLOSED:
            raise LineClosed("the line is closed", decision_id=line.status_decision_id)
        limit_min = self._limits.limit_min_minor(line.currency)
        parsed = checked_request(kind, limit_minor, line.limit_minor, limit_min, line.currency)
        bounds = self._underwriting.bounds(line.currency)
        if limit_minor is not None and bounds is not None:
            require_within_policy(limit_minor, bounds)  # staff can grant only what they may set
        require_none_open(line.id, self._store.requests.open_of_line(tx, line.id))
        now = self._clock.now()
        asked = BorrowerRequest(
            id=new_id(),
            line_id=line.id,
            borrower_id=line.borrower_id,
            kind=parsed,
            limit_minor=limit_minor,
            status=RequestStatus.OPEN,
            decision_id=None,
            created_at=now,
            done_at=None,
            due_at=now + timedelta(days=self._limits.review_days(line.currency)),
        )
        self._store.requests.insert(tx, asked)
        payload = {
            "request": request_document(asked, line.currency),
            "line": line_document(line),
        }
        self._port.notify(tx, Topic.REQUEST_RECEIVED, line, asked.id, payload, now)
        return asked

    def withdraw(self, actor: Actor, key: str, request_id: str) -> CommandResult:
        """The borrower takes back their open request (`borrower_request_not_open` once it
        was granted or withdrawn); a decision naming it is then refused
        (`borrower_request_missing`)."""
        require(actor, Permission.REQUEST_LINE_CHANGE)
        request = {"op": "withdraw_borrower_request", "request_id": request_id}

        def work(tx: Transaction) -> dict[str, Any]:
            line, found = self._lock_visible(tx, actor, request_id)
            require_open(found)
            now = self._clock.now()
            self._store.requests.mark_withdrawn(tx, found.id, now)
            withdrawn = replace(found, status=RequestStatus.WITHDRAWN, withdrawn_at=now)
            return request_document(withdrawn, line.currency)

        return self._commands.run(actor, key, request, work, lambda document: document)

    def _lock_visible(
        self, tx: Transaction, actor: Actor, request_id: str
    ) -> tuple[Line, BorrowerRequest]:
        """The request and its line, both locked (the line first), if `actor` may see the
        line; another borrower's request is as unknown as one that does not exist."""
        found = self._store.requests.get(tx, request_id)
        line = None if found is None else self._store.lock_line(tx, found.line_id)
        locked = None if line is None else self._store.requests.lock(tx, request_id)
        if line is None or locked is None or not may_see(actor, line):
            raise BorrowerRequestNotFound("no such request", request_id=request_id)
        return line, locked

    def lock_of_line(self, tx: Transaction, line: Line, request_id: str) -> BorrowerRequest:
        """The request `request_id` of the locked `line`, locked, for a decision to grant
        (else `borrower_request_missing`)."""
        found = self._store.requests.lock(tx, request_id)
        if found is None or found.line_id != line.id:
            raise BorrowerRequestMissing("no such request of this line", request_id=request_id)
        return found

    # --- queries -------------------------------------------------------------------------
    def of_line(
        self, actor: Actor, line_id: str, limit: int = 50, after: str | None = None
    ) -> dict[str, Any]:
        """The line's requests, oldest first, a page of `limit` after the request `after`: a
        borrower's own line's (another's is `line_not_found`), any line's for staff."""
        require(actor, Permission.READ_LINES)
        _check_limit(limit)

        def read(tx: Transaction) -> tuple[Line, list[tuple[BorrowerRequest, str]]]:
            line = self._port.visible(tx, actor, line_id)
            if line is None:
                raise LineNotFound("no such line", line_id=line_id)
            cursor = self._cursor(tx, after, line.id)
            return line, self._store.requests.of_line(tx, line.id, cursor, limit)

        line, page = self._db.read(read)
        return {"line_id": line.id, **self._page_document(page, limit)}

    def queue(
        self, actor: Actor, status: str = "open", limit: int = 50, after: str | None = None
    ) -> dict[str, Any]:
        """Requests in `status` (open by default) across the book, oldest first, each with its
        deadline and whether it is overdue: the page of `limit` after the request `after`
        (staff)."""
        require(actor, Permission.READ_STAFF_VIEWS)
        _check_limit(limit)
        try:
            parsed = RequestStatus(status)
        except ValueError:
            raise InvalidInput(
                "status must be one of " + ", ".join(s.value for s in RequestStatus)
            ) from None

        def read(tx: Transaction) -> list[tuple[BorrowerRequest, str]]:
            cursor = self._cursor(tx, after, None)
            return self._store.requests.of_status(tx, parsed, cursor, limit)

        return self._page_document(self._db.read(read), limit)

    def _cursor(
        self, tx: Transaction, after: str | None, line_id: str | None
    ) -> BorrowerRequest | None:
        """The request a page starts after (of the line, when listing a line's)."""
        if after is None:
            return None
        found = self._store.requests.get(tx, after)
        if found is None or (line_id is not None and found.line_id != line_id):
            raise InvalidInput("after names no request of this list", after=after)
        return found

    def _page_document(self, page: list[tuple[BorrowerRequest, str]], limit: int) -> dict[str, Any]:
        now = self._clock.now()
        listed = [listed_request_document(request, currency, now) for request, currency in page]
        next_after = listed[-1]["id"] if len(listed) == limit else None
        return {"requests": listed, "next_after": next_after}


def _check_limit(limit: int) -> None:
    if type(limit) is not int or not 1 <= limit <= REQUESTS_LISTED_MAX:
        raise InvalidInput(f"limit must be 1–{REQUESTS_LISTED_MAX}")
