"""What the routers share: the documented error responses."""

from __future__ import annotations

from typing import Any, Final

from ctangel.service.schemas import ErrorResponse

ERRORS: Final[dict[int | str, dict[str, Any]]] = {
    401: {"model": ErrorResponse, "description": "missing or wrong access token"},
    404: {"model": ErrorResponse, "description": "no such job or file"},
    408: {"model": ErrorResponse, "description": "the upload stalled (no bytes for longer than the body timeout)"},
    409: {"model": ErrorResponse, "description": "the job is not done"},
}
