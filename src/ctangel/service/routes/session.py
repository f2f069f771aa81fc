"""Routes that need no token: health, and exchanging the token for a cookie."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response

from ctangel.service.auth import TokenAuth
from ctangel.service.routes.common import ERRORS
from ctangel.service.schemas import Health, LoginRequest


def session_router(auth: TokenAuth) -> APIRouter:
    """``/api/health``, ``/api/login`` and ``/api/logout``."""
    router = APIRouter(prefix="/api", tags=["session"])

    @router.get("/health", response_model=Health)
    def health() -> Health:
        """The server answers (no token needed)."""
        return Health()

    @router.post("/login", status_code=204, responses={401: ERRORS[401]})
    def login(body: LoginRequest, request: Request, response: Response) -> None:
        """Exchange the token for an HttpOnly cookie that the browser sends with every later call."""
        if not auth.matches(body.token):
            raise HTTPException(status_code=401, detail="wrong access token")
        auth.set_cookie(request, response)

    @router.post("/logout", status_code=204)
    def logout(response: Response) -> None:
        """Forget the cookie."""
        auth.clear_cookie(response)

    return router
