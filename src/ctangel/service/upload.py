"""Receiving a multipart upload as a stream, straight into files in the data folder, stopping at the limit.

Starlette's own form parsing would read a whole upload (to a temporary file outside the data folder)
before a handler sees it; this reads the request body a chunk at a time, writes each ``file`` part to its
own file under the upload's folder and answers 413 as soon as the bytes pass the limit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import IO, Final

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from ctangel.service.intake import ReceivedFile, UploadError

#: The multipart field that carries the study's file(s).
FILE_FIELD: Final = "file"
#: Bytes of multipart framing (boundaries, part headers) allowed on top of the file limit in Content-Length.
FRAMING_ALLOWANCE_BYTES: Final = 1024 * 1024
#: Largest non-file field kept (others are ignored; their bytes still count against the limit).
MAX_FIELD_BYTES: Final = 64 * 1024
#: Most header lines in one part, and bytes in one header line.
MAX_PART_HEADERS: Final = 16
MAX_PART_HEADER_BYTES: Final = 8 * 1024


@dataclass
class _Part:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    filename: str | None = None
    out: IO[bytes] | None = None
    path: Path | None = None
    size: int = 0


class MultipartReceiver:
    """Writes the ``file`` parts of one multipart body to ``folder/part-<n>``.

    Args:
        folder: where the parts are written (it exists, in the data folder).
        content_type: the request's Content-Type header.
        max_bytes: the most file bytes the upload may hold, all parts together.
        max_files: the most file parts.

    Raises:
        UploadError: the body is not ``multipart/form-data`` with a boundary (415).
    """

    def __init__(self, folder: Path, content_type: str, max_bytes: int, max_files: int) -> None:
        kind, params = parse_options_header(content_type)
        if kind != b"multipart/form-data" or b"boundary" not in params:
            raise UploadError(
                HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                "send the study as multipart/form-data with the file in the field 'file'",
            )
        self.folder = folder
        self.max_bytes = max_bytes
        self.max_files = max_files
        self.files: list[ReceivedFile] = []
        self.total = 0
        self.ended = False
        self._part = _Part()
        self._header_name = b""
        self._header_value = b""
        self._parser = MultipartParser(
            params[b"boundary"],
            {
                "on_part_begin": self._on_part_begin,
                "on_part_data": self._on_part_data,
                "on_part_end": self._on_part_end,
                "on_header_field": self._on_header_field,
                "on_header_value": self._on_header_value,
                "on_header_end": self._on_header_end,
                "on_headers_finished": self._on_headers_finished,
                "on_end": self._on_end,
            },
            max_header_count=MAX_PART_HEADERS,
            max_header_size=MAX_PART_HEADER_BYTES,
        )

    async def receive(self, chunks: AsyncIterator[bytes]) -> list[ReceivedFile]:
        """Consume the body; returns the files written, each flushed to the operating system.

        Raises:
            UploadError: the body is malformed or cut short (400), holds no ``file`` part (422), or passes
                the limits (413).
        """
        try:
            async for chunk in chunks:
                if chunk:
                    self._parser.write(chunk)
            self._parser.finalize()
        except FormParserError as exc:
            raise UploadError(HTTPStatus.BAD_REQUEST, f"a malformed multipart body ({exc})") from exc
        finally:
            self._close_open_part()
        if not self.ended:
            raise UploadError(HTTPStatus.BAD_REQUEST, "the upload ended early (the multipart body is incomplete)")
        if not self.files:
            raise UploadError(
                HTTPStatus.UNPROCESSABLE_ENTITY, "no file in the upload: send the study in the multipart field 'file'"
            )
        return self.files

    # --- parser callbacks --------------------------------------------------------------------------

    def _on_part_begin(self) -> None:
        self._part = _Part()

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _on_header_end(self) -> None:
        self._part.headers[self._header_name.lower()] = self._header_value
        self._header_name = b""
        self._header_value = b""

    def _on_headers_finished(self) -> None:
        _, options = parse_options_header(self._part.headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" not in options:
            return  # a plain field: read and dropped
        if name != FILE_FIELD:
            raise UploadError(
                HTTPStatus.BAD_REQUEST, f"a file in the multipart field {name!r}; send it in the field 'file'"
            )
        if len(self.files) >= self.max_files:
            raise UploadError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"more than {self.max_files} files in one upload")
        self._part.filename = options[b"filename"].decode("utf-8", "replace")
        self._part.path = self.folder / f"part-{len(self.files):06d}"
        self._part.out = open(self._part.path, "xb")  # noqa: SIM115 (closed in _on_part_end or on error)

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        n = end - start
        self.total += n
        if self.total > self.max_bytes:
            raise UploadError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"the upload is larger than {self.max_bytes} bytes, the limit; send a smaller study",
            )
        part = self._part
        if part.out is not None:
            part.out.write(data[start:end])
            part.size += n
        elif part.size + n > MAX_FIELD_BYTES:
            raise UploadError(HTTPStatus.BAD_REQUEST, f"a form field longer than {MAX_FIELD_BYTES} bytes")
        else:
            part.size += n

    def _on_part_end(self) -> None:
        part = self._part
        if part.out is None or part.path is None or part.filename is None:
            return
        part.out.close()
        part.out = None
        self.files.append(ReceivedFile(part.path, part.filename, part.size))

    def _on_end(self) -> None:
        self.ended = True

    def _close_open_part(self) -> None:
        if self._part.out is not None:
            self._part.out.close()
            self._part.out = None
