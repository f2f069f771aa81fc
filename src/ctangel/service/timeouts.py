"""Time limits on slow clients, so that one holding a connection open (slowloris) cannot hold the server.

* :class:`HeaderTimeoutH11Protocol`: uvicorn's HTTP/1.1 protocol with a deadline for the request's head (its
  request line and headers), from the connection's start and again after each response on a kept-alive
  connection. uvicorn has a keep-alive timeout but none for a head that arrives a byte at a time.
* :class:`BodyTimeout`: ASGI middleware that answers 408 when the request body stops arriving for longer than
  a limit between two chunks (an upload may take long in all; it may not stall).
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from ctangel.service.config import DEFAULT_BODY_TIMEOUT_S, DEFAULT_HEADER_TIMEOUT_S

#: The scope key set when the body timed out (the app's error handler answers 408 for it).
BODY_TIMED_OUT: Final = "ctangel.body_timed_out"


class HeaderTimeoutH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, closing connections whose request head does not arrive in time.

    The deadline is the class attribute :attr:`header_timeout_s` (uvicorn builds protocols itself; see
    :func:`protocol_with_header_timeout`).
    """

    header_timeout_s: float = DEFAULT_HEADER_TIMEOUT_S

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_deadline()
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_head_deadline()

    def _arm_head_deadline(self) -> None:
        self._disarm_head_deadline()
        self._head_deadline = self.loop.call_later(self.header_timeout_s, self._head_too_slow)

    def _disarm_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        in_flight = self.cycle is not None and not self.cycle.response_complete
        if not in_flight and not self.transport.is_closing():
            self.logger.info("closed a connection whose request head took over %.0f s", self.header_timeout_s)
            self.transport.close()


def protocol_with_header_timeout(seconds: float) -> type[HeaderTimeoutH11Protocol]:
    """A :class:`HeaderTimeoutH11Protocol` class whose deadline is ``seconds`` (for ``uvicorn.run(http=...)``)."""
    return type("ConfiguredHeaderTimeoutH11Protocol", (HeaderTimeoutH11Protocol,), {"header_timeout_s": seconds})


class BodyTimeout:
    """ASGI middleware: a request body that stalls for ``seconds`` between chunks ends as a disconnect, with
    :data:`BODY_TIMED_OUT` set in the scope so that the app answers 408.

    Args:
        app: the app to wrap.
        seconds: the longest wait for the body's next chunk.
    """

    def __init__(self, app: ASGIApp, seconds: float = DEFAULT_BODY_TIMEOUT_S) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body_done = False

        async def timed_receive() -> Message:
            nonlocal body_done
            if body_done:
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), self.seconds)
            except TimeoutError:
                scope[BODY_TIMED_OUT] = True
                body_done = True
                return {"type": "http.disconnect"}
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        await self.app(scope, timed_receive, send)
