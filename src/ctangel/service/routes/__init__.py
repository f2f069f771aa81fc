"""The web app's routers, one module per group of routes: session (health, login), jobs (submit, list,
delete) and results (results.json, output files, viewer slices)."""

from __future__ import annotations

from ctangel.service.routes.jobs import jobs_router
from ctangel.service.routes.results import results_router
from ctangel.service.routes.session import session_router

__all__ = ["jobs_router", "results_router", "session_router"]
