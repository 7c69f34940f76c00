"""Applications for a line, the borrower's consent to a bureau pull, and bureau reports."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Response
from pydantic import AwareDatetime, Field, StrictBool, StrictFloat, StrictInt, StrictStr

from creditline.api.bodies import Body
from creditline.api.deps import (
    BureauDep,
    IdempotencyKeyDep,
    PermissionRoute,
    UnderwritingDep,
    requires,
)
from creditline.api.documents import answers
from creditline.api.documents import applications as docs
from creditline.api.replies import command_reply
from creditline.decisions.applications import Application
from creditline.decisions.attributes import APPLICATION_FIELDS_MAX
from creditline.kernel.actors import Actor
from creditline.kernel.permissions import Permission

router = APIRouter(prefix="/v1", route_class=PermissionRoute)
# A lender attribute's value as JSON gives it: which kinds its type takes is the registry's.
AttributeValue = StrictBool | StrictInt | StrictFloat | StrictStr | None


class ApplicationBody(Body):
    borrower_id: StrictStr = Field(min_length=1, max_length=64)
    currency: StrictStr = Field(examples=["CNY"])
    income_monthly: StrictStr = Field(description="decimal string", examples=["12000.00"])
    income_evidence: StrictBool
    income_evidence_expires_on: date | None = None
    birth_date: date
    employment: StrictStr = Field(examples=["employed"])
    obligations_monthly: StrictStr | None = Field(
        default=None,
        description="monthly payments on other debts, a decimal string (ability to pay)",
        examples=["1500.00"],
    )
    region: StrictStr | None = Field(
        default=None,
        description="where the applicant lives: an ISO 3166-2 subdivision code",
        examples=["CN-SH"],
    )
    attributes: dict[StrictStr, AttributeValue] | None = Field(
        default=None,
        max_length=APPLICATION_FIELDS_MAX,
        description=(
            "the lender's own application fields, by the name of a registered attribute whose "
            "source is `application`: a number, true or false, or one of its categories, as "
            "its type says (null: unknown). An unknown name (`attribute_unknown`), a name the "
            "lender loads itself (`attribute_not_from_application`) or a value its type does "
            "not take (`attribute_value_invalid`) is refused and nothing is written"
        ),
        examples=[{"channel": "online"}],
    )


class GiveConsent(Body):
    borrower_id: StrictStr = Field(min_length=1, max_length=64)


class ReportedKeyFactor(Body):
    text: StrictStr = Field(min_length=1, max_length=200)
    code: StrictStr | None = Field(default=None, min_length=1, max_length=16)
    inquiries: StrictBool = Field(
        default=False, description="the factor is about the number of inquiries"
    )


class LoadBureauReport(Body):
    borrower_id: StrictStr = Field(min_length=1, max_length=64)
    source: StrictStr = Field(default="bureau", min_length=1, max_length=64)
    reported_at: AwareDatetime
    inquiries_1m: StrictInt | None = None
    inquiries_3m: StrictInt | None = None
    inquiries_6m: StrictInt | None = None
    lenders_with_open_loans: StrictInt | None = None
    other_limits_minor: StrictInt | None = Field(default=None, description="in minor units")
    bureau_score: StrictInt | None = None
    obligations_monthly_minor: StrictInt | None = Field(
        default=None, description="monthly payments on reported debts, in minor units"
    )
    key_factors: list[ReportedKeyFactor] | None = Field(
        default=None,
        max_length=10,
        description="what adversely affected the score, in the bureau's order and words",
    )


@router.post("/applications", **answers(docs.ApplicationDecided, 201))
def apply_for_a_line(
    body: ApplicationBody,
    underwriting: UnderwritingDep,
    actor: Annotated[Actor, requires(Permission.APPLY)],
    key: IdempotencyKeyDep,
    response: Response,
) -> Response:
    """Underwrite an application: declined with its reasons, or a line opened at its limit."""
    result = underwriting.apply(actor, key, Application(**body.model_dump()))
    return command_reply(result, response, 201)


@router.post("/consents", **answers(docs.Consent, 201))
def record_consent(
    body: GiveConsent,
    bureau: BureauDep,
    actor: Annotated[Actor, requires(Permission.RECORD_CONSENT)],
    key: IdempotencyKeyDep,
    response: Response,
) -> Response:
    """The borrower's consent to pull their credit report, recorded before any pull."""
    return command_reply(bureau.record_consent(actor, key, body.borrower_id), response, 201)


@router.post("/bureau-reports", **answers(docs.BureauReport, 201))
def load_bureau_report(
    body: LoadBureauReport,
    bureau: BureauDep,
    actor: Annotated[Actor, requires(Permission.LOAD_BUREAU_REPORT)],
    key: IdempotencyKeyDep,
    response: Response,
) -> Response:
    """Load a credit-bureau report; refused (`consent_missing`) without the borrower's consent."""
    return command_reply(bureau.load_report(actor, key, body.model_dump()), response, 201)
