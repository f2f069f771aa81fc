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
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ctangel import __version__
from ctangel.service.auth import TokenAuth
from ctangel.service.config import ServiceConfig, load_or_create_token
from ctangel.service.intake import UploadError, remove_tree
from ctangel.service.jobs import JobNotFoundError, JobNotReadyError, JobService, OutputNotFoundError
from ctangel.service.pool import WorkerPool
from ctangel.service.privacy import guard_logs, service_logger
from ctangel.service.schemas import (
    ErrorResponse,
    Health,
    JobInfo,
    JobList,
    LoginRequest,
    ResultsDocument,
    SubmitResponse,
)
from ctangel.service.upload import FILE_FIELD, FRAMING_ALLOWANCE_BYTES, MultipartReceiver

log = service_logger

#: The UI's page and its scripts may load only from this server (no CDN, no inline script).
UI_CSP: Final = (
    "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)
#: The report is self-contained: inline style and data: images, nothing else.
REPORT_CSP: Final = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; frame-ancestors 'none'"
#: A finished job's slice images never change (a deleted job's id is never reused).
IMMUTABLE: Final = "private, max-age=31536000, immutable"
#: A download's file name starts with this many characters of its job's id.
DOWNLOAD_ID_CHARS: Final = 8

_UPLOAD_BODY: Final[dict[str, Any]] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": [FILE_FIELD],
                    "properties": {
                        FILE_FIELD: {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "description": "one zip of a DICOM folder, one NIfTI volume (.nii/.nii.gz), or "
                            "DICOM files or images of one study (repeat the field for several files)",
                        }
                    },
                }
            }
        },
    }
}
_ERRORS: Final[dict[int | str, dict[str, Any]]] = {
    401: {"model": ErrorResponse, "description": "missing or wrong access token"},
    404: {"model": ErrorResponse, "description": "no such job or file"},
    409: {"model": ErrorResponse, "description": "the job is not done"},
}


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
    _install_handlers(app)
    app.add_middleware(SecurityHeaders)
    public = APIRouter(prefix="/api", tags=["session"])
    api = APIRouter(prefix="/api", dependencies=[Depends(auth)], responses={401: _ERRORS[401]})

    @public.get("/health", response_model=Health)
    def health() -> Health:
        """The server answers (no token needed)."""
        return Health()

    @public.post("/login", status_code=204, responses={401: _ERRORS[401]})
    def login(body: LoginRequest, request: Request, response: Response) -> None:
        """Exchange the token for an HttpOnly cookie that the browser sends with every later call."""
        if not auth.matches(body.token):
            raise HTTPException(status_code=401, detail="wrong access token")
        auth.set_cookie(request, response)

    @public.post("/logout", status_code=204)
    def logout(response: Response) -> None:
        """Forget the cookie."""
        auth.clear_cookie(response)

    @api.post(
        "/studies",
        status_code=202,
        response_model=SubmitResponse,
        tags=["jobs"],
        openapi_extra=_UPLOAD_BODY,
        responses={
            400: {"model": ErrorResponse, "description": "damaged, truncated or unsafe upload (zip slip, links)"},
            413: {"model": ErrorResponse, "description": "over the size, file-count or unpacking limits"},
            415: {"model": ErrorResponse, "description": "not a zip, DICOM, NIfTI or image file"},
            422: {"model": ErrorResponse, "description": "nothing to analyse (e.g. DICOM that is not CT)"},
        },
    )
    async def submit_study(request: Request) -> SubmitResponse:
        """Upload a study; it is checked now (4xx when it cannot be analysed) and queued for the workers."""
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > config.max_upload_bytes + FRAMING_ALLOWANCE_BYTES:
            raise UploadError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"the upload is larger than {config.max_upload_bytes} bytes, the limit; send a smaller study",
            )
        upload = service.new_upload_dir()
        try:
            receiver = MultipartReceiver(
                upload, request.headers.get("content-type", ""), config.max_upload_bytes, config.max_zip_files
            )
            files = await receiver.receive(request.stream())
        except BaseException:
            remove_tree(upload)
            raise
        job = await run_in_threadpool(service.submit, upload, files)
        return SubmitResponse(
            job_id=job.id, n_files=job.n_files, n_studies=job.n_studies, n_slices=job.n_slices, warnings=job.warnings
        )

    @api.get("/jobs", response_model=JobList, tags=["jobs"])
    def list_jobs() -> JobList:
        """Every job, newest first."""
        return JobList(jobs=[JobInfo.of(j, p) for j, p in service.list_with_positions()])

    @api.get("/jobs/{job_id}", response_model=JobInfo, tags=["jobs"], responses={404: _ERRORS[404]})
    def get_job(job_id: str) -> JobInfo:
        """A job's status and progress."""
        job = service.get(job_id)
        return JobInfo.of(job, service.queue_position(job))

    @api.delete("/jobs/{job_id}", status_code=204, tags=["jobs"], responses={404: _ERRORS[404]})
    def delete_job(job_id: str) -> None:
        """Delete a job and its files (a running job stops)."""
        service.delete(job_id)

    @api.get(
        "/jobs/{job_id}/results",
        response_model=ResultsDocument,
        tags=["results"],
        responses={404: _ERRORS[404], 409: _ERRORS[409]},
    )
    def get_results(job_id: str) -> FileResponse:
        """The job's results.json (as ``ctangel analyze`` writes it)."""
        return FileResponse(service.results_path(job_id), media_type="application/json")

    @api.get(
        "/jobs/{job_id}/output/{path:path}",
        response_class=FileResponse,
        tags=["results"],
        responses={404: _ERRORS[404], 409: _ERRORS[409]},
    )
    def get_output(
        job_id: str, path: str, download: Annotated[bool, Query(description="as an attachment")] = False
    ) -> FileResponse:
        """A file of the job's output folder: ``results.json``, ``report.html``, ``masks.zip``, the report's
        overlays and montages."""
        file = service.output_file(job_id, path)
        headers = {"Content-Security-Policy": REPORT_CSP} if file.suffix == ".html" else {}
        return FileResponse(
            file,
            filename=f"{job_id[:DOWNLOAD_ID_CHARS]}-{file.name}" if download else None,
            content_disposition_type="attachment" if download else "inline",
            headers=headers,
        )

    @api.get(
        "/jobs/{job_id}/studies/{study}/slices/{index}.png",
        response_class=FileResponse,
        tags=["results"],
        responses={200: {"content": {"image/png": {}}}, 404: _ERRORS[404], 409: _ERRORS[409]},
    )
    def get_slice(
        job_id: str,
        study: int,
        index: int,
        overlay: Annotated[bool, Query(description="draw the lesion boxes and contours")] = False,
    ) -> FileResponse:
        """Slice ``index`` of study ``study`` (``outputs.viewer.study`` in results.json) in the analysis window,
        display orientation, as PNG."""
        path = service.slice_image(job_id, study, index, overlay)
        return FileResponse(path, media_type="image/png", headers={"Cache-Control": IMMUTABLE})

    app.include_router(public)
    app.include_router(api)

    ui = static_dir()
    app.mount("/static", StaticFiles(directory=ui), name="static")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(ui / "index.html", headers={"Cache-Control": "no-cache"})

    return app


def _install_handlers(app: FastAPI) -> None:
    def rejected(request: Request, exc: Exception) -> JSONResponse:
        status = exc.status if isinstance(exc, UploadError) else HTTPStatus.BAD_REQUEST
        return JSONResponse({"detail": str(exc)}, status_code=int(status))

    def not_found(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    def not_ready(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    def disconnected(request: Request, exc: Exception) -> Response:
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
