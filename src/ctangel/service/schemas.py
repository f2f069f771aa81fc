"""The REST API's request and response bodies (these make the app's OpenAPI schema)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ctangel.service.store import JobRecord


class ErrorResponse(BaseModel):
    """Every 4xx answer: what is wrong and what to do."""

    detail: str = Field(description="what is wrong and what to do")


class LoginRequest(BaseModel):
    """The access token, exchanged for an HttpOnly cookie."""

    token: str = Field(description="the server's access token (printed at its first start, or $CTANGEL_TOKEN)")


class Health(BaseModel):
    """The server answers."""

    status: Literal["ok"] = "ok"


class JobSummary(BaseModel):
    """Counts of a finished analysis."""

    patients: int
    positive_patients: int
    studies: int
    positive_studies: int = 0
    slices: int
    positive_slices: int


class JobInfo(BaseModel):
    """A job's state."""

    job_id: str = Field(description="32 hex digits")
    filename: str = Field(description="the uploaded file's name")
    status: Literal["queued", "running", "done", "failed"]
    progress: float = Field(ge=0.0, le=1.0, description="0..1")
    error: str | None = Field(description="why the job failed; null unless failed")
    created: datetime = Field(description="when the upload was accepted (the queue's order)")
    started: datetime | None = Field(description="when a worker last took the job")
    finished: datetime | None = Field(description="when the job ended")
    attempts: int = Field(description="times a worker took the job (more than 1 after a restart)")
    queue_position: int | None = Field(description="jobs running or waiting before this one (queued jobs only)")
    n_files: int = Field(description="files in the upload (in the zip, for a zip)")
    size_bytes: int = Field(description="bytes uploaded")
    n_studies: int = Field(description="studies found at upload")
    n_slices: int = Field(description="slices found at upload")
    warnings: list[str] = Field(description="inputs of the upload that could not be analysed (the others were)")
    summary: JobSummary | None = Field(description="counts of the analysis, once done")

    @classmethod
    def of(cls, job: JobRecord, queue_position: int | None = None) -> JobInfo:
        """The API's view of a stored job."""
        return cls(
            job_id=job.id,
            filename=job.filename,
            status=job.status,
            progress=job.progress,
            error=job.error,
            created=_time(job.created_at),
            started=None if job.started_at is None else _time(job.started_at),
            finished=None if job.finished_at is None else _time(job.finished_at),
            attempts=job.attempts,
            queue_position=queue_position,
            n_files=job.n_files,
            size_bytes=job.size_bytes,
            n_studies=job.n_studies,
            n_slices=job.n_slices,
            warnings=job.warnings,
            summary=None if job.summary is None else JobSummary(**job.summary),
        )


class JobList(BaseModel):
    """Every job, newest first."""

    jobs: list[JobInfo]


class SubmitResponse(BaseModel):
    """An upload accepted and queued."""

    job_id: str = Field(description="poll GET /api/jobs/{job_id}")
    status: Literal["queued"] = "queued"
    n_files: int
    n_studies: int
    n_slices: int
    warnings: list[str] = Field(description="inputs of the upload that could not be used (the others will be)")


# --- results.json, for the schema's sake (the file is served as written; more keys may appear) ----------


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class LesionBoxOut(_Open):
    """A lesion box, in the stored image's pixels (edges)."""

    box: list[float] = Field(description="x0, y0, x1, y1")
    area_px: int
    score: float


class SliceOut(_Open):
    """One slice's findings."""

    index: int
    source: str
    positive: bool
    lesion_probability: float
    lesion_area_px: int
    lung_area_px: int
    lung_box: list[float] | None
    boxes: list[LesionBoxOut]
    rows: int
    cols: int


class StudyOut(_Open):
    """One study's findings; ``outputs.viewer.study`` numbers its images under
    ``/api/jobs/{job_id}/studies/{study}/slices/{index}.png``."""

    study_id: str
    series_id: str
    input: str
    kind: str
    n_slices: int
    positive: bool
    n_positive_slices: int
    outputs: dict[str, Any]
    slices: list[SliceOut]


class PatientOut(_Open):
    """One patient's call."""

    patient_id: str
    positive: bool
    rule: str
    studies: list[StudyOut]


class InputErrorOut(_Open):
    """An input that could not be analysed."""

    input: str
    error: str


class ResultsDocument(_Open):
    """results.json, as ``ctangel analyze`` writes it."""

    ctangel_version: str
    models: dict[str, Any]
    settings: dict[str, Any]
    patients: list[PatientOut]
    errors: list[InputErrorOut] = []


def _time(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
