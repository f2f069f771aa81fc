"""Routes of jobs: upload a study (a job), list, look up and delete jobs."""

from __future__ import annotations

import asyncio
from http import HTTPStatus
from typing import Any, Final

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from ctangel.service.auth import TokenAuth
from ctangel.service.intake import UploadError, remove_tree
from ctangel.service.jobs import JobService
from ctangel.service.routes.common import ERRORS
from ctangel.service.schemas import ErrorResponse, JobInfo, JobList, SubmitResponse
from ctangel.service.upload import FILE_FIELD, FRAMING_ALLOWANCE_BYTES, MultipartReceiver

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
_SUBMIT_ERRORS: Final[dict[int | str, dict[str, Any]]] = {
    400: {"model": ErrorResponse, "description": "damaged, truncated or unsafe upload (zip slip, links)"},
    408: ERRORS[408],
    413: {"model": ErrorResponse, "description": "over the size, file-count, pixel or unpacking limits"},
    415: {"model": ErrorResponse, "description": "not a zip, DICOM, NIfTI or image file"},
    422: {"model": ErrorResponse, "description": "nothing to analyse (e.g. DICOM that is not CT)"},
}


def jobs_router(service: JobService, auth: TokenAuth) -> APIRouter:
    """``/api/studies`` and ``/api/jobs...`` (token needed).

    Uploads are received on the event loop (a stream of chunks) and checked in a worker thread, at most
    ``max_concurrent_intakes`` at once: unpacking and reading a zip of thousands of files takes seconds of CPU,
    and the server must go on answering meanwhile.
    """
    config = service.config
    router = APIRouter(prefix="/api", dependencies=[Depends(auth)], responses={401: ERRORS[401]}, tags=["jobs"])
    intakes = asyncio.Semaphore(config.max_concurrent_intakes)

    @router.post(
        "/studies", status_code=202, response_model=SubmitResponse, openapi_extra=_UPLOAD_BODY, responses=_SUBMIT_ERRORS
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
        async with intakes:
            job = await run_in_threadpool(service.submit, upload, files)
        return SubmitResponse(
            job_id=job.id, n_files=job.n_files, n_studies=job.n_studies, n_slices=job.n_slices, warnings=job.warnings
        )

    @router.get("/jobs", response_model=JobList)
    def list_jobs() -> JobList:
        """Every job, newest first."""
        return JobList(jobs=[JobInfo.of(j, p) for j, p in service.list_with_positions()])

    @router.get("/jobs/{job_id}", response_model=JobInfo, responses={404: ERRORS[404]})
    def get_job(job_id: str) -> JobInfo:
        """A job's status and progress."""
        job = service.get(job_id)
        return JobInfo.of(job, service.queue_position(job))

    @router.delete("/jobs/{job_id}", status_code=204, responses={404: ERRORS[404]})
    def delete_job(job_id: str) -> None:
        """Delete a job and its files (a running job stops)."""
        service.delete(job_id)

    return router
