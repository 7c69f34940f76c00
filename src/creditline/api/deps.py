"""Request dependencies shared by every capability's routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from creditline.api.auth import authenticate
from creditline.api.problems import IdempotencyKeyMissing
from creditline.bootstrap import Container
from creditline.kernel.actors import Actor


def container(request: Request) -> Container:
    return request.app.state.container  # type: ignore[no-any-return]


def current_actor(request: Request, authorization: Annotated[str | None, Header()] = None) -> Actor:
    built = container(request)
    return authenticate(authorization, built.settings.jwt_signing_key, built.clock.now())


def idempotency_key(
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> str:
    if not idempotency_key:
        raise IdempotencyKeyMissing("every POST needs an `Idempotency-Key` header")
    return idempotency_key


ContainerDep = Annotated[Container, Depends(container)]
ActorDep = Annotated[Actor, Depends(current_actor)]
IdempotencyKeyDep = Annotated[str, Depends(idempotency_key)]
