"""A limit change's input, checked before its transaction: the action (and whether the actor
may take it), the reason codes' shape and the freeze's end."""

from __future__ import annotations

from datetime import datetime

from creditline.kernel.actors import Actor
from creditline.kernel.clock import utc
from creditline.kernel.errors import InvalidInput
from creditline.kernel.permissions import Permission, require
from creditline.ledger.model import Action

# Changing the limit itself needs CHANGE_LIMIT; freezes and suspensions keep it visible.
_PERMISSION_OF_ACTION = {
    Action.INCREASE: Permission.CHANGE_LIMIT,
    Action.DECREASE: Permission.CHANGE_LIMIT,
    Action.CLOSE: Permission.CHANGE_LIMIT,
    Action.FREEZE: Permission.FREEZE_LINE,
    Action.UNFREEZE: Permission.FREEZE_LINE,
    Action.SUSPEND: Permission.FREEZE_LINE,
    Action.RESTORE: Permission.FREEZE_LINE,
}


def parse_action(actor: Actor, action: str, reason_codes: object) -> Action:
    """The action of a limit change, if `actor` may take it and the codes are a list."""
    try:
        parsed = Action(action)
    except ValueError:
        raise InvalidInput(
            f"unknown action {action!r}", actions=[a.value for a in Action]
        ) from None
    require(actor, _PERMISSION_OF_ACTION[parsed])
    if not isinstance(reason_codes, list) or not all(isinstance(c, str) for c in reason_codes):
        raise InvalidInput("reason_codes must be a list of codes")
    return parsed


def checked_until(until: datetime | None, field: str = "until") -> datetime | None:
    """A freeze's end (or a close's effective time, `field`), in UTC: refused without a time
    zone or out of range."""
    if until is None:
        return None
    if until.tzinfo is None:
        raise InvalidInput(f"`{field}` needs a time zone", field=field)
    try:
        return utc(until)  # stored, echoed and announced in UTC
    except (OverflowError, ValueError):
        raise InvalidInput(f"`{field}` is out of range", field=field) from None
