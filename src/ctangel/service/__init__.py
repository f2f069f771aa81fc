"""The web service: a REST API and a browser UI over a queue of jobs run by worker processes.

>>> from ctangel.service import ServiceConfig, create_app
>>> app = create_app(ServiceConfig(data_dir=Path("data")))   # serve with uvicorn; `ctangel serve` does it

The analysis is the CLI's :class:`~ctangel.inference.Pipeline` and :class:`~ctangel.report.OutputWriter`,
run in worker processes (:mod:`ctangel.service.worker`); jobs live in SQLite in the data folder
(:mod:`ctangel.service.store`); uploads are checked before they are queued (:mod:`ctangel.service.intake`).
:class:`JobService` does for Python code what the routes do over HTTP.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ctangel.service.config import ServiceConfig

if TYPE_CHECKING:
    from ctangel.service.app import create_app
    from ctangel.service.jobs import JobService

__all__ = ["JobService", "ServiceConfig", "create_app"]


def __getattr__(name: str) -> Any:
    # The web stack (FastAPI) loads only for whoever asks for the app, not for the worker processes.
    if name == "create_app":
        from ctangel.service.app import create_app

        return create_app
    if name == "JobService":
        from ctangel.service.jobs import JobService

        return JobService
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
