"""Routes of a finished job's outputs: results.json, the output folder's files, the viewer's slices."""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import APIRouter, Depends, Query
from fastapi.responses import FileResponse

from ctangel.service.auth import TokenAuth
from ctangel.service.jobs import JobService
from ctangel.service.routes.common import ERRORS
from ctangel.service.schemas import ResultsDocument

#: The report is self-contained: inline style and data: images, nothing else.
REPORT_CSP: Final = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; frame-ancestors 'none'"
#: A finished job's slice images never change (a deleted job's id is never reused).
IMMUTABLE: Final = "private, max-age=31536000, immutable"
#: A download's file name starts with this many characters of its job's id.
DOWNLOAD_ID_CHARS: Final = 8


def results_router(service: JobService, auth: TokenAuth) -> APIRouter:
    """``/api/jobs/{job_id}/results``, ``.../output/{path}`` and ``.../studies/{study}/slices/{index}.png``."""
    router = APIRouter(
        prefix="/api/jobs/{job_id}",
        dependencies=[Depends(auth)],
        responses={401: ERRORS[401], 404: ERRORS[404], 409: ERRORS[409]},
        tags=["results"],
    )

    @router.get("/results", response_model=ResultsDocument)
    def get_results(job_id: str) -> FileResponse:
        """The job's results.json (as ``ctangel analyze`` writes it)."""
        return FileResponse(service.results_path(job_id), media_type="application/json")

    @router.get("/output/{path:path}", response_class=FileResponse)
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

    @router.get(
        "/studies/{study}/slices/{index}.png",
        response_class=FileResponse,
        responses={200: {"content": {"image/png": {}}}},
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

    return router
