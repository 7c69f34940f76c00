"""Request dependencies shared by every router: the caller, the permission an operation needs,
the idempotency key and the one service each route uses.

Each is `async def`: none waits on anything (a token's signature is checked once per process),
and FastAPI runs a plain `def` dependency on a worker thread, a hand-off to and from the pool
each. Profiled, those hand-offs cost a line's read over HTTP more than the read itself."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.routing import APIRoute

from creditline.api.auth import TokenRules, authenticate
from creditline.api.direct_calls import DirectCall, Handler
from creditline.api.openapi import BEARER, problem_responses
from creditline.api.problems import IdempotencyKeyMissing
from creditline.api.replies import answered_as_json
from creditline.bootstrap import Container
from creditline.decisions.appeals import Appeals
from creditline.decisions.applications import Underwriting
from creditline.decisions.bureau import BureauService
from creditline.decisions.explanation import Explainer
from creditline.decisions.registry import PolicyRegistry
from creditline.decisions.verification import Verifications
from creditline.kernel.actors import Actor
from creditline.kernel.errors import Forbidden
from creditline.kernel.permissions import Permission, allows
from creditline.ledger.service import LedgerService
from creditline.loans.service import LoanService
from creditline.notices.service import NoticeService
from creditline.portfolio.monitoring import ModelMonitor
from creditline.portfolio.service import PortfolioService

PERMISSION_EXTENSION = "x-permission"
PERMISSION_ALTERNATIVES_SEPARATOR = " | "
IDEMPOTENCY_KEY = "Idempotency-Key"
# The header as the OpenAPI document has always described it (optional: a missing key is
# answered with a problem document, not a validation error).
IDEMPOTENCY_KEY_PARAMETER = {
    "name": IDEMPOTENCY_KEY,
    "in": "header",
    "required": False,
    "schema": {"anyOf": [{"type": "string"}, {"type": "null"}], "title": IDEMPOTENCY_KEY},
}


def _container(request: Request) -> Container:
    return request.app.state.container  # type: ignore[no-any-return]


def current_actor(request: Request) -> Actor:
    """The authenticated caller, from the bearer token (401 without a valid one). The header is
    documented as the bearer scheme, not as a parameter."""
    container = _container(request)
    settings = container.settings
    rules = TokenRules(settings.jwt_keys, settings.token_lifetime_max, settings.token_leeway)
    return authenticate(request.headers.get("authorization"), rules, container.clock.now())


@dataclass(frozen=True)
class PermissionCheck:
    """Authenticates the caller and refuses (`forbidden`) a role that holds none of
    `permissions`; the services check again what only they can (ownership, the action).

    The caller is read here, not in a dependency of its own: FastAPI resolves each dependency
    in a generic pass over its parameters, which cost a request more than the check itself."""

    permissions: tuple[Permission, ...]

    async def __call__(self, request: Request) -> Actor:
        actor = current_actor(request)
        if not any(allows(actor, permission) for permission in self.permissions):
            needed = " or ".join(permission.value for permission in self.permissions)
            raise Forbidden(f"role {actor.role.value} may not {needed}")
        return actor

    @property
    def documented(self) -> str:
        """The operation's `x-permission`: the permission, or the alternatives joined by `|`."""
        return PERMISSION_ALTERNATIVES_SEPARATOR.join(p.value for p in self.permissions)


def operation_id(route: APIRoute) -> str:
    """A route's operation id in the OpenAPI document: its function's name."""
    return route.name


def requires(*permissions: Permission) -> Any:
    """The authenticated actor, refused unless their role holds one of `permissions`:
    `actor: Annotated[Actor, requires(Permission.DRAW)]`, or in a route's `dependencies` when
    the route does not need the actor. `PermissionRoute` shows it in the OpenAPI document."""
    return Depends(PermissionCheck(permissions))


class PermissionRoute(APIRoute):
    """A route that says who may call it: exactly one `requires(...)`, recorded on the
    operation as `x-permission` with the bearer scheme, and the problems it may answer. A
    route without one is refused when it is declared. What the route returns is answered as
    JSON encoded once (`answered_as_json`)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **options: Any) -> None:
        endpoint = answered_as_json(endpoint, options.get("status_code"))
        # Operation ids are the routes' function names (unique across routers): a generated
        # client calls `get_line`, not `get_line_v1_lines_line_id_get`.
        options["generate_unique_id_function"] = operation_id
        super().__init__(path, endpoint, **options)
        checks = [
            dependency.call
            for dependency in self.dependant.dependencies
            if isinstance(dependency.call, PermissionCheck)
        ]
        if len(checks) != 1:
            raise TypeError(f"{self.name} ({path}) needs exactly one `requires(...)` dependency")
        keyed = any(
            dependency.call is idempotency_key for dependency in self.dependant.dependencies
        )
        command = keyed or self.body_field is not None
        self.responses = {**problem_responses(command), **self.responses}
        self.openapi_extra = {
            **(self.openapi_extra or {}),
            PERMISSION_EXTENSION: checks[0].documented,
            "security": [{BEARER: []}],
            # After the operation's own parameters, as FastAPI lists a header parameter.
            **({"parameters": [IDEMPOTENCY_KEY_PARAMETER]} if keyed else {}),
        }

    def get_route_handler(self) -> Handler:
        """FastAPI's handler, called directly first when the route's shape allows
        (`DirectCall`)."""
        fastapi_handler = super().get_route_handler()
        direct = DirectCall.of(self)
        return fastapi_handler if direct is None else direct.handler(fastapi_handler)


async def idempotency_key(request: Request) -> str:
    """The request's `Idempotency-Key` header (400 without one). Read from the headers, not
    declared as a `Header` parameter: FastAPI validates a declared one in a generic pass that
    cost a hold more than the rest of the dependency; `PermissionRoute` documents it."""
    key = request.headers.get(IDEMPOTENCY_KEY)
    if not key:
        raise IdempotencyKeyMissing("every POST needs an `Idempotency-Key` header")
    return key


IdempotencyKeyDep = Annotated[str, Depends(idempotency_key)]


# --- the services: each route depends on the one it uses, never on the whole container -------
async def ledger_service(request: Request) -> LedgerService:
    """The ledger's use cases."""
    return _container(request).ledger


async def loan_service(request: Request) -> LoanService:
    """The loans' use cases."""
    return _container(request).loans


async def explainer(request: Request) -> Explainer:
    """Explanations of a line."""
    return _container(request).explainer


async def appeals(request: Request) -> Appeals:
    """Reviews asked for, and human review."""
    return _container(request).appeals


async def underwriting(request: Request) -> Underwriting:
    """Applications."""
    return _container(request).underwriting


async def bureau_service(request: Request) -> BureauService:
    """Consents and bureau reports."""
    return _container(request).bureau


async def verifications(request: Request) -> Verifications:
    """Re-verifications."""
    return _container(request).verifications


async def notice_service(request: Request) -> NoticeService:
    """The inbox and notice preferences."""
    return _container(request).notices


async def policy_registry(request: Request) -> PolicyRegistry:
    """The policies that have decided."""
    return _container(request).policies


LedgerDep = Annotated[LedgerService, Depends(ledger_service)]
LoansDep = Annotated[LoanService, Depends(loan_service)]
ExplainerDep = Annotated[Explainer, Depends(explainer)]
AppealsDep = Annotated[Appeals, Depends(appeals)]
UnderwritingDep = Annotated[Underwriting, Depends(underwriting)]
BureauDep = Annotated[BureauService, Depends(bureau_service)]
VerificationsDep = Annotated[Verifications, Depends(verifications)]
NoticesDep = Annotated[NoticeService, Depends(notice_service)]
PoliciesDep = Annotated[PolicyRegistry, Depends(policy_registry)]


async def portfolio_service(request: Request) -> PortfolioService:
    return _container(request).portfolio


PortfolioDep = Annotated[PortfolioService, Depends(portfolio_service)]


async def model_monitor(request: Request) -> ModelMonitor:
    return _container(request).model_monitor


ModelMonitorDep = Annotated[ModelMonitor, Depends(model_monitor)]
