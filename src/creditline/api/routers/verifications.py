"""Verifications: a borrower's identity or income evidence, checked again."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Response
from pydantic import Field, StrictStr

from creditline.api.bodies import Body
from creditline.api.deps import IdempotencyKeyDep, PermissionRoute, VerificationsDep, requires
from creditline.api.documents import answers
from creditline.api.documents import applications as docs
from creditline.api.replies import command_reply
from creditline.kernel.actors import Actor
from creditline.kernel.permissions import Permission

router = APIRouter(prefix="/v1", route_class=PermissionRoute)


class VerificationBody(Body):
    kind: Literal["identity", "income"]
    line_id: StrictStr | None = Field(default=None, description="only this line (default: all)")
    evidence: dict[str, Any] = Field(
        examples=[
            {
                "income_monthly": "12000.00",
                "currency": "CNY",
                "document_id": "payslip-2026-11",
                "issued_on": "2026-11-20",
                "expires_on": "2027-05-20",
            }
        ]
    )


@router.post("/verifications", **answers(docs.Verification, 201))
def verify(
    body: VerificationBody,
    verifications: VerificationsDep,
    actor: Annotated[Actor, requires(Permission.VERIFY)],
    key: IdempotencyKeyDep,
    response: Response,
) -> Response:
    """Re-verify identity or income: a line suspended for it comes back by itself when the
    evidence checks out (no new application); a refusal says why."""
    result = verifications.submit(actor, key, body.kind, body.evidence, body.line_id)
    return command_reply(result, response, 201)
