"""The web app: the REST API under ``/api`` and the browser UI at ``/``, over one :class:`JobService`.

Routes only translate HTTP to :class:`~ctangel.service.jobs.JobService` calls and back; everything they do
is reachable from Python through that class (and the analysis itself is the CLI's
:class:`~ctangel.inference.Pipeline`, run by the worker processes).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http import HTTPStatus
from importlib import resources
from pathlib import Path
from typing import Final

from fastapi import FastAPI, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ctangel import __version__
from ctangel.service.auth import TokenAuth
from ctangel.service.config import ServiceConfig, load_or_create_token
from ctangel.service.intake import UploadError
from ctangel.service.jobs import JobNotFoundError, JobNotReadyError, JobService, OutputNotFoundError
from ctangel.service.pool import WorkerPool
from ctangel.service.privacy import guard_logs, service_logger
from ctangel.service.routes import jobs_router, results_router, session_router
from ctangel.service.timeouts import BODY_TIMED_OUT, BodyTimeout

log = service_logger

#: The UI's page and its scripts may load only from this server (no CDN, no inline script).
UI_CSP: Final = (
    "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)


def static_dir() -> Path:
    """The browser UI's files."""
    return Path(str(resources.files("ctangel.service") / "static"))


def create_app(config: ServiceConfig) -> FastAPI:
    """The web app for ``config``. Starting it (its lifespan) opens the job store, recovers interrupted
    jobs and starts the worker processes; stopping it stops them.

    Args:
        config: the service's configuration; with no token, ``$CTANGEL_TOKEN`` or the data folder's is used
            (one is generated there when neither exists).

    Raises:
        ConfigError: the token cannot be read or made.
    """
    token = config.token or load_or_create_token(config.data_dir)[0]
    service = JobService(config)
    auth = TokenAuth(token)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        unguard = guard_logs()
        service.open()
        pool = WorkerPool(config, service.store)
        pool.start()
        app.state.pool = pool
        node = None
        if config.dicom is not None:
            from ctangel.service.dicom_node import DicomNode

            node = DicomNode(config.dicom, service)
            node.start()
        try:
            yield
        finally:
            if node is not None:
                await run_in_threadpool(node.stop)
            await run_in_threadpool(pool.stop)
            service.close()
            unguard()

    app = FastAPI(
        title="ctangel",
        version=__version__,
        summary="COVID-19 pneumonia on chest CT: upload a study, poll its job, read its results.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.service = service
    _install_handlers(app, config.body_timeout_s)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(BodyTimeout, seconds=config.body_timeout_s)
    app.include_router(session_router(auth))
    app.include_router(jobs_router(service, auth))
    app.include_router(results_router(service, auth))
    ui = static_dir()
    app.mount("/static", StaticFiles(directory=ui), name="static")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(ui / "index.html", headers={"Cache-Control": "no-cache"})

    return app


def _install_handlers(app: FastAPI, body_timeout_s: float) -> None:
    def rejected(request: Request, exc: Exception) -> JSONResponse:
        status = exc.status if isinstance(exc, UploadError) else HTTPStatus.BAD_REQUEST
        return JSONResponse({"detail": str(exc)}, status_code=int(status))

    def not_found(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    def not_ready(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    def disconnected(request: Request, exc: Exception) -> Response:
        if request.scope.get(BODY_TIMED_OUT):
            detail = f"the upload stalled for over {body_timeout_s:g} s; send it again"
            return JSONResponse({"detail": detail}, status_code=int(HTTPStatus.REQUEST_TIMEOUT))
        return Response(status_code=400)

    app.add_exception_handler(UploadError, rejected)
    app.add_exception_handler(JobNotFoundError, not_found)
    app.add_exception_handler(OutputNotFoundError, not_found)
    app.add_exception_handler(JobNotReadyError, not_ready)
    app.add_exception_handler(ClientDisconnect, disconnected)


class SecurityHeaders:
    """ASGI middleware adding headers that keep the pages from being sniffed, framed or fed foreign scripts."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        ui_page = not str(scope.get("path", "")).startswith("/api/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "no-referrer")
                headers.setdefault("X-Frame-Options", "DENY")
                if ui_page:
                    headers.setdefault("Content-Security-Policy", UI_CSP)
            await send(message)

        await self.app(scope, receive, send_with_headers)
