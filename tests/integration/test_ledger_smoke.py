from datetime import timedelta

from creditline.bootstrap import Container
from creditline.kernel.actors import Actor


def test_settling_a_loan_restores_the_line(
    container: Container, agent: Actor, borrower: Actor
) -> None:
    ledger = container.ledger
    line = ledger.open_line(agent, "open-1", borrower.subject, "CNY", "20000.00").document
    hold = ledger.place_hold(borrower, "hold-1", line["id"], "5000.00", 12).document
    posted = container.loans.post_drawdown(borrower, "post-1", hold["id"]).document
    ledger.change_limit(
        agent,
        "freeze-1",
        line["id"],
        "freeze",
        ["drawdown_velocity"],
        until=container.clock.now() + timedelta(days=1),
    )
    repaid = container.loans.repay(borrower, "repay-1", posted["loan_id"], "5000.00").document
    assert repaid["loan_status"] == "settled"
    assert repaid["line"]["available"] == "20000.00"
    assert container.reconciler.run() == []
