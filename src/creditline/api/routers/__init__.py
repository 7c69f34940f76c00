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

# Each router under its resource's name: the OpenAPI tag a generated client groups it by.
ROUTERS: dict[str, APIRouter] = {
    "lines": lines.router,
    "requests": requests.router,
    "drawdowns": drawdowns.router,
    "loans": loans.router,
    "decisions": decisions.router,
    "reviews": reviews.router,
    "applications": applications.router,
    "verifications": verifications.router,
    "notices": notices.router,
    "policies": policies.router,
    "reports": reports.router,
    "experiments": experiments.router,
}
