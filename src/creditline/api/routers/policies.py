"""Policies: every credit policy that has decided, and the exact document behind a decision."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter

from creditline.api.deps import PermissionRoute, PoliciesDep, requires
from creditline.kernel.actors import Actor
from creditline.kernel.permissions import Permission

router = APIRouter(prefix="/v1", route_class=PermissionRoute)

Staff = Annotated[Actor, requires(Permission.READ_STAFF_VIEWS)]


@router.get("/policies")
def list_policies(policies: PoliciesDep, actor: Staff) -> dict[str, Any]:
    """Every policy that has decided (id@version, fingerprint, first use), newest first; staff."""
    return policies.summaries(actor)


@router.get("/policies/{label}")
def get_policy(label: str, policies: PoliciesDep, actor: Staff) -> dict[str, Any]:
    """The exact document behind a decision's `policy_version` (id@version); staff."""
    return policies.get(actor, label)
