"""One router per resource; each operation names the permission it needs (`x-permission`)."""

from __future__ import annotations

from fastapi import APIRouter

from creditline.api.routers import (
    applications,
    decisions,
    drawdowns,
    experiments,
    lines,
    loans,
    notices,
    policies,
    reports,
    requests,
    reviews,
    verifications,
)

ROUTERS: tuple[APIRouter, ...] = (
    lines.router,
    requests.router,
    drawdowns.router,
    loans.router,
    decisions.router,
    reviews.router,
    applications.router,
    verifications.router,
    notices.router,
    policies.router,
    reports.router,
    experiments.router,
)
