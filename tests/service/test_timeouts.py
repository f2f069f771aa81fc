"""Slow clients (slowloris) are cut off: a request head that dribbles in, an upload body that stalls."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from service_studies import TOKEN, free_port

from ctangel.service import ServiceConfig, create_app
from ctangel.service.timeouts import protocol_with_header_timeout

HEADER_TIMEOUT_S = 0.5
BODY_TIMEOUT_S = 0.5


@contextmanager
def server(tmp_path: Path) -> Iterator[int]:
    """The real app (no workers: its lifespan is off) behind uvicorn with the header-timeout protocol."""
    config = ServiceConfig(data_dir=tmp_path / "data", token=TOKEN, body_timeout_s=BODY_TIMEOUT_S)
    config.layout.create()
    port = free_port()
    uv = uvicorn.Server(
        uvicorn.Config(
            create_app(config),
            host="127.0.0.1",
            port=port,
            lifespan="off",
            log_config=None,
            http=protocol_with_header_timeout(HEADER_TIMEOUT_S),
        )
    )
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield port
    finally:
        uv.should_exit = True
        thread.join(10)


def _read_all(sock: socket.socket, wait_s: float) -> bytes:
    sock.settimeout(wait_s)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except TimeoutError:
        pass
    return data


def test_slow_head_is_closed_and_the_server_answers_others(tmp_path: Path) -> None:
    with server(tmp_path) as port:
        with socket.create_connection(("127.0.0.1", port)) as slow:
            slow.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\n")  # the head never ends
            start = time.monotonic()
            assert _read_all(slow, 5.0) == b""  # closed by the server, not by our timeout
            assert time.monotonic() - start < 3.0
        with socket.create_connection(("127.0.0.1", port)) as ok:
            ok.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert _read_all(ok, 5.0).startswith(b"HTTP/1.1 200")


def test_stalled_upload_gets_408(tmp_path: Path) -> None:
    with server(tmp_path) as port:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            reply = _stall(sock)
        assert reply.startswith(b"HTTP/1.1 408"), reply[:200]
        assert b"stalled" in reply
        assert not any((tmp_path / "data" / "tmp").iterdir())  # the partial upload is gone


def _stall(sock: socket.socket) -> bytes:
    head = (
        "POST /api/studies HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {TOKEN}\r\n"
        "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\nConnection: close\r\n\r\n"
    )
    sock.sendall(head.encode() + b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.zip"\r\n\r\nPK')
    return _read_all(sock, 5.0)
