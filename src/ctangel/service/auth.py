"""The access token: an ``Authorization: Bearer`` header, or the HttpOnly cookie that ``POST /api/login`` sets.

The cookie holds the token itself, is HttpOnly (page scripts cannot read it), SameSite=Strict (other sites'
pages cannot make the browser send it) and Secure when the page came over HTTPS. Tokens are compared with
:func:`secrets.compare_digest`, so the time taken says nothing about how much of a guess was right.
"""

from __future__ import annotations

import secrets
from typing import Final

from fastapi import HTTPException, Request, Response, Security
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

#: The cookie the browser keeps the token in.
COOKIE_NAME: Final = "ctangel_token"
#: How long the browser keeps it, seconds (30 days).
COOKIE_MAX_AGE_S: Final = 30 * 24 * 3600

_bearer = HTTPBearer(auto_error=False, description="the access token, as `Authorization: Bearer TOKEN`")
_cookie = APIKeyCookie(name=COOKIE_NAME, auto_error=False, description="the cookie POST /api/login sets")


class TokenAuth:
    """A FastAPI dependency that lets a request through when it carries the token.

    Args:
        token: the server's access token.
    """

    def __init__(self, token: str) -> None:
        self._token = token.encode("ascii")

    def matches(self, candidate: str | None) -> bool:
        """Whether ``candidate`` is the token (in constant time)."""
        if not candidate:
            return False
        try:
            given = candidate.encode("ascii")
        except UnicodeEncodeError:
            return False
        return secrets.compare_digest(given, self._token)

    def __call__(
        self,
        bearer: HTTPAuthorizationCredentials | None = Security(_bearer),  # noqa: B008 (FastAPI's dependency style)
        cookie: str | None = Security(_cookie),
    ) -> None:
        """Raise 401 unless the Bearer header or the cookie holds the token."""
        if bearer is not None and self.matches(bearer.credentials):
            return
        if self.matches(cookie):
            return
        raise HTTPException(
            status_code=401,
            detail="missing or wrong access token: send 'Authorization: Bearer TOKEN' or log in at /",
            headers={"WWW-Authenticate": "Bearer"},
        )

    def set_cookie(self, request: Request, response: Response) -> None:
        """Make the browser keep the token (HttpOnly, SameSite=Strict, Secure over HTTPS)."""
        response.set_cookie(
            COOKIE_NAME,
            self._token.decode("ascii"),
            max_age=COOKIE_MAX_AGE_S,
            path="/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )

    @staticmethod
    def clear_cookie(response: Response) -> None:
        """Make the browser forget the token."""
        response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="strict")
