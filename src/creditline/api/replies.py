"""How a command's result becomes a response."""

from __future__ import annotations

from typing import Any

from fastapi import Response

from creditline.db.commands import CommandResult


def command_reply(result: CommandResult, response: Response, status: int = 200) -> dict[str, Any]:
    """The command's document with `status`; a replay of an earlier request under the same
    idempotency key says so (`Idempotent-Replayed: true`)."""
    response.status_code = status
    if result.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return result.document
