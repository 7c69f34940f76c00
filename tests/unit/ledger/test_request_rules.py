"""The rules a borrower's request keeps (`ledger/limit_rules.py`): only an open request is
withdrawn, a line has one open request at a time, and only an open request that asks for
exactly the change is granted — never a withdrawn or a done one."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from creditline.kernel.errors import (
    BorrowerRequestAlreadyOpen,
    BorrowerRequestMissing,
    BorrowerRequestNotOpen,
)
from creditline.ledger.limit_rules import (
    BorrowerRequest,
    RequestKind,
    RequestStatus,
    require_matching_request,
    require_none_open,
    require_open,
)

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
OPEN = BorrowerRequest(
    id="request-1",
    line_id="line-1",
    borrower_id="borrower-1",
    kind=RequestKind.DECREASE,
    limit_minor=500_000,
    status=RequestStatus.OPEN,
    decision_id=None,
    created_at=NOW,
    done_at=None,
    due_at=NOW + timedelta(days=15),
)
WITHDRAWN = replace(OPEN, status=RequestStatus.WITHDRAWN, withdrawn_at=NOW + timedelta(days=1))
DONE = replace(OPEN, status=RequestStatus.DONE, decision_id="decision-1", done_at=NOW)


def test_an_open_request_may_be_withdrawn_and_no_other() -> None:
    require_open(OPEN)
    for ended in (WITHDRAWN, DONE):
        with pytest.raises(BorrowerRequestNotOpen) as refused:
            require_open(ended)
        assert refused.value.details == {"request_id": "request-1", "status": ended.status.value}


def test_a_line_has_one_open_request_at_a_time() -> None:
    require_none_open("line-1", None)
    with pytest.raises(BorrowerRequestAlreadyOpen) as refused:
        require_none_open("line-1", "request-1")
    assert refused.value.details == {"line_id": "line-1", "request_id": "request-1"}


@pytest.mark.parametrize("request_", [WITHDRAWN, DONE], ids=["withdrawn", "done"])
def test_only_an_open_request_is_granted(request_: BorrowerRequest) -> None:
    require_matching_request("line-1", "decrease", ["borrower_request"], 500_000, OPEN)
    with pytest.raises(BorrowerRequestMissing):
        require_matching_request("line-1", "decrease", ["borrower_request"], 500_000, request_)
